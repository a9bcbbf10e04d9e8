-- The housekeeping purge finds old forwarding requests by age.
CREATE INDEX forward_requests_created_at ON vault.forward_requests (created_at);
