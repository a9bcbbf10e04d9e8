"""The PaymentIntent transition table and the aggregate that obeys it."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from payplane.domain.errors import InvalidAmount, InvalidRequest, UnexpectedState
from payplane.domain.money import MAX_AMOUNT
from payplane.domain.payment_intent import (
    TRANSITIONS,
    UPDATABLE,
    CaptureMethod,
    PaymentError,
    PaymentIntent,
    Status,
    Trigger,
    allowed_from,
    can,
    merge_metadata,
    next_status,
)

ALL_PAIRS = list(itertools.product(Status, Trigger))
TERMINAL = (Status.SUCCEEDED, Status.CANCELED)
BEFORE_CONFIRMATION = {
    Status.REQUIRES_PAYMENT_METHOD,
    Status.REQUIRES_CONFIRMATION,
    Status.REQUIRES_ACTION,
    Status.PROCESSING,
}
STRIPE_EVENT_TYPES = {
    "payment_intent.processing",
    "payment_intent.succeeded",
    "payment_intent.amount_capturable_updated",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "charge.succeeded",
    "charge.failed",
    "charge.captured",
}
_ALLOWED_LIST = re.compile(
    r"Only a PaymentIntent with one of the following statuses may be \w+: (.*)\.$"
)


def make_intent(
    *,
    status: Status = Status.REQUIRES_CONFIRMATION,
    amount: int = 2000,
    capture_method: CaptureMethod = CaptureMethod.AUTOMATIC,
    payment_method: str | None = "pm_card_visa",
    **extra: Any,
) -> PaymentIntent:
    return PaymentIntent(
        id="pi_test",
        merchant_id="mer_test",
        amount=amount,
        currency="usd",
        status=status,
        capture_method=capture_method,
        created=1_700_000_000,
        payment_method=payment_method,
        **extra,
    )


def decline_error() -> PaymentError:
    return PaymentError(
        type="card_error",
        code="card_declined",
        message="Your card was declined.",
        decline_code="insufficient_funds",
        payment_method="pm_card_visa",
    )


def state_of(intent: PaymentIntent) -> dict[str, Any]:
    return {**intent.as_stripe_object(), "events": list(intent.events)}


# -- the table ---------------------------------------------------------------------------------


def test_every_status_has_a_row_and_every_edge_targets_a_status() -> None:
    assert set(TRANSITIONS) == set(Status)
    for edges in TRANSITIONS.values():
        for trigger, target in edges.items():
            assert isinstance(trigger, Trigger)
            assert isinstance(target, Status)


@pytest.mark.parametrize(("status", "trigger"), ALL_PAIRS)
def test_each_pair_follows_the_table_or_raises_with_the_allowed_statuses(
    status: Status, trigger: Trigger
) -> None:
    if trigger in TRANSITIONS[status]:
        assert can(status, trigger)
        assert next_status(status, trigger) is TRANSITIONS[status][trigger]
        assert status in allowed_from(trigger)
        return
    assert not can(status, trigger)
    assert status not in allowed_from(trigger)
    with pytest.raises(UnexpectedState) as excinfo:
        next_status(status, trigger)
    error = excinfo.value
    assert error.code == "payment_intent_unexpected_state"
    assert error.http_status == 400
    assert f"because it has a status of {status.value}." in error.message
    match = _ALLOWED_LIST.search(error.message)
    assert match is not None, error.message
    listed = [name for name in match.group(1).split(", ") if name]
    # Exactly the statuses from which the trigger has an edge, each once.
    expected = {s.value for s in Status if trigger in TRANSITIONS[s]}
    assert sorted(listed) == sorted(expected)
    assert listed == [s.value for s in allowed_from(trigger)]


@pytest.mark.parametrize(
    ("trigger", "verb", "participle"),
    [
        (Trigger.CONFIRM, "confirm", "confirmed"),
        (Trigger.CAPTURE, "capture", "captured"),
        (Trigger.CANCEL, "cancel", "canceled"),
    ],
)
def test_refusals_use_stripes_wording(trigger: Trigger, verb: str, participle: str) -> None:
    with pytest.raises(UnexpectedState) as excinfo:
        next_status(Status.SUCCEEDED, trigger)
    assert excinfo.value.message.startswith(f"You cannot {verb} this PaymentIntent ")
    assert f" may be {participle}: " in excinfo.value.message


def test_capture_is_only_possible_from_requires_capture() -> None:
    assert allowed_from(Trigger.CAPTURE) == [Status.REQUIRES_CAPTURE]


def test_cancel_is_possible_before_money_moved_and_never_after() -> None:
    allowed = set(allowed_from(Trigger.CANCEL))
    assert Status.REQUIRES_CAPTURE in allowed
    assert Status.REQUIRES_PAYMENT_METHOD in allowed
    assert not allowed & set(TERMINAL)


@pytest.mark.parametrize("status", TERMINAL)
def test_terminal_statuses_have_no_edges(status: Status) -> None:
    assert TRANSITIONS[status] == {}
    for trigger in Trigger:
        assert not can(status, trigger)
        with pytest.raises(UnexpectedState):
            next_status(status, trigger)


def _reachable(start: Status) -> set[Status]:
    seen: set[Status] = set()
    frontier = [start]
    while frontier:
        status = frontier.pop()
        for target in TRANSITIONS[status].values():
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    return seen


@pytest.mark.parametrize("start", [Status.REQUIRES_CAPTURE, Status.SUCCEEDED, Status.CANCELED])
def test_never_backwards_once_authorized(start: Status) -> None:
    """No path (not only no edge) leads from an authorized or final intent back to before."""
    assert not _reachable(start) & BEFORE_CONFIRMATION


# -- the aggregate: examples -----------------------------------------------------------------


def test_automatic_capture_authorize_succeeds_with_the_full_amount() -> None:
    intent = make_intent(amount=4321)
    intent.begin_confirmation()
    intent.authorized("ch_1")
    assert intent.status is Status.SUCCEEDED
    assert intent.amount_received == 4321
    assert intent.amount_capturable == 0
    assert intent.latest_charge == "ch_1"
    assert intent.events == [
        "payment_intent.processing",
        "charge.succeeded",
        "payment_intent.succeeded",
    ]


def test_manual_capture_authorize_leaves_the_amount_capturable() -> None:
    intent = make_intent(amount=4321, capture_method=CaptureMethod.MANUAL)
    intent.begin_confirmation()
    intent.authorized("ch_1")
    assert intent.status is Status.REQUIRES_CAPTURE
    assert intent.amount_capturable == 4321
    assert intent.amount_received == 0
    assert intent.events[-1] == "payment_intent.amount_capturable_updated"


def _authorized_manual(amount: int = 5000) -> PaymentIntent:
    intent = make_intent(amount=amount, capture_method=CaptureMethod.MANUAL)
    intent.begin_confirmation()
    intent.authorized("ch_1")
    return intent


def test_partial_capture_receives_the_captured_amount() -> None:
    intent = _authorized_manual(5000)
    to_capture = intent.check_capture(1234)
    assert to_capture == 1234
    intent.captured(to_capture)
    assert intent.status is Status.SUCCEEDED
    assert intent.amount_received == 1234
    assert intent.amount_capturable == 0


def test_capture_without_amount_takes_everything_capturable() -> None:
    intent = _authorized_manual(5000)
    assert intent.check_capture(None) == 5000


def test_capture_above_amount_capturable_is_refused() -> None:
    intent = _authorized_manual(5000)
    with pytest.raises(InvalidAmount) as excinfo:
        intent.check_capture(5001)
    assert excinfo.value.code == "amount_too_large"
    assert excinfo.value.param == "amount_to_capture"
    assert "5000" in excinfo.value.message
    assert intent.status is Status.REQUIRES_CAPTURE


@pytest.mark.parametrize("amount", [0, -1])
def test_capture_of_zero_or_negative_amount_is_refused(amount: int) -> None:
    intent = _authorized_manual(5000)
    with pytest.raises(InvalidAmount) as excinfo:
        intent.check_capture(amount)
    assert excinfo.value.param == "amount_to_capture"


def test_check_capture_refuses_an_intent_that_is_not_authorized() -> None:
    intent = make_intent()
    with pytest.raises(UnexpectedState, match="status of requires_confirmation"):
        intent.check_capture(None)


def test_decline_clears_the_payment_method_and_records_the_error() -> None:
    intent = make_intent()
    intent.begin_confirmation()
    intent.declined(decline_error(), "ch_declined")
    assert intent.status is Status.REQUIRES_PAYMENT_METHOD
    assert intent.payment_method is None
    assert intent.last_payment_error == decline_error()
    assert intent.latest_charge == "ch_declined"
    body = intent.as_stripe_object()["last_payment_error"]
    assert body["decline_code"] == "insufficient_funds"
    assert body["payment_method"] == {"id": "pm_card_visa", "type": None}


def test_confirming_again_clears_the_last_payment_error() -> None:
    intent = make_intent()
    intent.begin_confirmation()
    intent.declined(decline_error(), "ch_declined")
    intent.update({"payment_method": "pm_card_mastercard"})
    assert intent.status is Status.REQUIRES_CONFIRMATION
    intent.begin_confirmation()
    assert intent.last_payment_error is None


def test_psp_unavailable_returns_to_requires_confirmation_without_events() -> None:
    intent = make_intent()
    intent.begin_confirmation()
    intent.events.clear()
    intent.psp_unavailable()
    assert intent.status is Status.REQUIRES_CONFIRMATION
    assert intent.events == []


def test_confirmation_without_payment_method_names_the_param() -> None:
    intent = make_intent(status=Status.REQUIRES_PAYMENT_METHOD, payment_method=None)
    with pytest.raises(InvalidRequest) as excinfo:
        intent.begin_confirmation()
    assert excinfo.value.param == "payment_method"
    assert intent.status is Status.REQUIRES_PAYMENT_METHOD
    assert intent.events == []


def test_confirmation_of_a_final_intent_reports_the_state_first() -> None:
    intent = make_intent(status=Status.SUCCEEDED, payment_method=None)
    with pytest.raises(UnexpectedState, match="status of succeeded"):
        intent.begin_confirmation()


@pytest.mark.parametrize("status", [s for s in Status if s not in UPDATABLE])
@pytest.mark.parametrize(
    "changes",
    [{"amount": 999}, {"currency": "eur"}, {"payment_method": "pm_other"}, {"customer": "cus_1"}],
)
def test_money_fields_cannot_change_after_confirmation(
    status: Status, changes: dict[str, Any]
) -> None:
    intent = make_intent(status=status)
    before = state_of(intent)
    with pytest.raises(UnexpectedState, match=f"status of {status.value}"):
        intent.update(changes)
    assert state_of(intent) == before


@pytest.mark.parametrize("status", list(Status))
def test_metadata_and_description_can_change_in_any_status(status: Status) -> None:
    intent = make_intent(status=status, metadata={"order": "1", "keep": "x"})
    intent.update({"metadata": {"order": "2", "new": "y"}, "description": "hello"})
    assert intent.metadata == {"order": "2", "keep": "x", "new": "y"}
    assert intent.description == "hello"
    assert intent.status is status


def test_update_of_amount_before_confirmation_is_applied() -> None:
    intent = make_intent(status=Status.REQUIRES_PAYMENT_METHOD, payment_method=None)
    intent.update({"amount": 777})
    assert intent.amount == 777
    assert intent.status is Status.REQUIRES_PAYMENT_METHOD


def test_attaching_and_detaching_a_payment_method_moves_status() -> None:
    intent = make_intent(status=Status.REQUIRES_PAYMENT_METHOD, payment_method=None)
    intent.update({"payment_method": "pm_card_visa"})
    assert intent.status is Status.REQUIRES_CONFIRMATION
    intent.update({"payment_method": None})
    assert intent.status is Status.REQUIRES_PAYMENT_METHOD


def test_metadata_none_clears_everything() -> None:
    intent = make_intent(metadata={"a": "1"})
    intent.update({"metadata": None})
    assert intent.metadata == {}


@pytest.mark.parametrize(
    ("current", "update", "expected"),
    [
        ({"a": "1", "b": "2"}, {"a": ""}, {"b": "2"}),
        ({"a": "1"}, {"missing": ""}, {"a": "1"}),
        ({"a": "1"}, {}, {"a": "1"}),
        ({"a": "1"}, {"a": "3", "c": "4"}, {"a": "3", "c": "4"}),
        ({}, {"a": "", "b": "x"}, {"b": "x"}),
        ({"a": "1"}, {"a": " "}, {"a": " "}),
    ],
)
def test_merge_metadata(
    current: dict[str, str], update: dict[str, str], expected: dict[str, str]
) -> None:
    snapshot = dict(current)
    assert merge_metadata(current, update) == expected
    assert current == snapshot  # the input is not mutated


def test_cancel_of_an_authorized_intent_releases_the_capturable_amount() -> None:
    intent = _authorized_manual(5000)
    intent.check_cancel()
    intent.canceled("requested_by_customer", 1_700_000_500)
    assert intent.status is Status.CANCELED
    assert intent.amount_capturable == 0
    assert intent.canceled_at == 1_700_000_500
    assert intent.cancellation_reason == "requested_by_customer"
    assert intent.events[-1] == "payment_intent.canceled"


def test_expiry_cancels_only_an_authorized_intent() -> None:
    intent = _authorized_manual()
    intent.canceled("abandoned", 1, trigger=Trigger.EXPIRE)
    assert intent.status is Status.CANCELED
    fresh = make_intent()
    with pytest.raises(UnexpectedState):
        fresh.canceled("abandoned", 1, trigger=Trigger.EXPIRE)


@pytest.mark.parametrize("status", TERMINAL)
def test_a_late_decline_does_not_touch_a_final_intent(status: Status) -> None:
    intent = make_intent(status=status, latest_charge="ch_original")
    before = state_of(intent)
    with pytest.raises(UnexpectedState):
        intent.declined(decline_error(), "ch_late")
    assert state_of(intent) == before


@pytest.mark.parametrize("status", TERMINAL)
def test_a_late_authorization_does_not_touch_a_final_intent(status: Status) -> None:
    intent = make_intent(status=status, latest_charge="ch_original")
    before = state_of(intent)
    with pytest.raises(UnexpectedState):
        intent.authorized("ch_late")
    assert state_of(intent) == before


# -- the aggregate: stateful property --------------------------------------------------------

AMOUNT = st.integers(min_value=1, max_value=MAX_AMOUNT)
PAYMENT_METHOD = st.from_regex(r"pm_[a-z0-9]{1,8}", fullmatch=True)
STAGES = st.sampled_from(["created", "processing", "authorized"])
OPERATIONS = [
    "update_payment_method",
    "confirm",
    "authorized",
    "declined",
    "psp_unavailable",
    "check_capture",
    "captured",
    "check_cancel",
    "canceled",
    "expire",
]
METADATA_UPDATE = st.dictionaries(
    st.sampled_from(["a", "b", "c", "order"]),
    st.sampled_from(["", "1", "x", "value"]),
    max_size=4,
)


class IntentLifecycle(RuleBasedStateMachine):
    """Drives one PaymentIntent at random; refused calls must leave it untouched."""

    intent: PaymentIntent
    charges = 0
    clock = 1_700_000_000

    @initialize(
        amount=AMOUNT,
        capture_method=st.sampled_from(CaptureMethod),
        payment_method=st.none() | PAYMENT_METHOD,
        stage=STAGES,
    )
    def create(
        self,
        amount: int,
        capture_method: CaptureMethod,
        payment_method: str | None,
        stage: str,
    ) -> None:
        """A new intent, driven through the real methods up to `stage` so deep states are common."""
        self.intent = make_intent(
            status=(
                Status.REQUIRES_CONFIRMATION if payment_method else Status.REQUIRES_PAYMENT_METHOD
            ),
            amount=amount,
            capture_method=capture_method,
            payment_method=payment_method,
        )
        if stage == "created":
            return
        if not payment_method:
            self.intent.update({"payment_method": "pm_card_visa"})
        self.intent.begin_confirmation()
        if stage == "authorized":
            self.intent.authorized(self._charge_id())

    @precondition(lambda self: self.intent.status in TERMINAL)
    @rule(
        amount=AMOUNT,
        capture_method=st.sampled_from(CaptureMethod),
        payment_method=st.none() | PAYMENT_METHOD,
        stage=STAGES,
    )
    def start_over(
        self,
        amount: int,
        capture_method: CaptureMethod,
        payment_method: str | None,
        stage: str,
    ) -> None:
        """Final statuses absorb; a fresh intent lets one run cover several lifecycles."""
        self.create(amount, capture_method, payment_method, stage)

    # helpers

    def _new_events(self, before: int) -> list[str]:
        return self.intent.events[before:]

    def _refused(
        self, call: Any, *exceptions: type[Exception], ignore: tuple[str, ...] = ()
    ) -> None:
        before = state_of(self.intent)
        with pytest.raises(exceptions):
            call()
        after = state_of(self.intent)
        for name in ignore:
            before.pop(name)
            after.pop(name)
        assert after == before

    def _charge_id(self) -> str:
        self.charges += 1
        return f"ch_{self.charges}"

    # rules: each productive rule runs only where it is allowed; `refused` covers the rest

    @rule(amount=AMOUNT)
    def update_amount(self, amount: int) -> None:
        if self.intent.status in UPDATABLE:
            status = self.intent.status
            self.intent.update({"amount": amount})
            assert self.intent.amount == amount
            assert self.intent.status is status
        else:
            self._refused(lambda: self.intent.update({"amount": amount}), UnexpectedState)

    @precondition(lambda self: self.intent.status in UPDATABLE)
    @rule(payment_method=st.none() | PAYMENT_METHOD)
    def update_payment_method(self, payment_method: str | None) -> None:
        self.intent.update({"payment_method": payment_method})
        assert self.intent.payment_method == payment_method
        assert self.intent.status is (
            Status.REQUIRES_CONFIRMATION if payment_method else Status.REQUIRES_PAYMENT_METHOD
        )

    @rule(update=METADATA_UPDATE)
    def update_metadata(self, update: dict[str, str]) -> None:
        status = self.intent.status
        expected = {k: v for k, v in {**self.intent.metadata, **update}.items() if v != ""}
        self.intent.update({"metadata": update})
        assert self.intent.metadata == expected
        assert self.intent.status is status

    @precondition(lambda self: self.intent.status in UPDATABLE)
    @rule()
    def begin_confirmation(self) -> None:
        n = len(self.intent.events)
        if self.intent.payment_method:
            self.intent.begin_confirmation()
            assert self.intent.status is Status.PROCESSING
            assert self.intent.last_payment_error is None
            assert self._new_events(n) == ["payment_intent.processing"]
        else:
            self._refused(self.intent.begin_confirmation, InvalidRequest)

    @precondition(lambda self: self.intent.status in (Status.PROCESSING, Status.REQUIRES_ACTION))
    @rule(outcome=st.sampled_from(["authorized", "declined", "psp_unavailable"]))
    def psp_answers(self, outcome: str) -> None:
        n = len(self.intent.events)
        if outcome == "authorized":
            charge = self._charge_id()
            self.intent.authorized(charge)
            assert self.intent.latest_charge == charge
            if self.intent.capture_method is CaptureMethod.AUTOMATIC:
                assert self.intent.status is Status.SUCCEEDED
                assert self.intent.amount_received == self.intent.amount
                assert self._new_events(n) == ["charge.succeeded", "payment_intent.succeeded"]
            else:
                assert self.intent.status is Status.REQUIRES_CAPTURE
                assert self.intent.amount_capturable == self.intent.amount
                assert self._new_events(n) == [
                    "charge.succeeded",
                    "payment_intent.amount_capturable_updated",
                ]
        elif outcome == "declined":
            self.intent.declined(decline_error(), self._charge_id())
            assert self.intent.status is Status.REQUIRES_PAYMENT_METHOD
            assert self.intent.last_payment_error is not None
            assert self.intent.payment_method is None
            assert self._new_events(n) == ["charge.failed", "payment_intent.payment_failed"]
        elif self.intent.status is Status.PROCESSING:
            self.intent.psp_unavailable()
            assert self.intent.status is Status.REQUIRES_CONFIRMATION
            assert self._new_events(n) == []
        else:
            self._refused(self.intent.psp_unavailable, UnexpectedState)

    @precondition(lambda self: self.intent.status is Status.REQUIRES_CAPTURE)
    @rule(data=st.data())
    def capture(self, data: st.DataObject) -> None:
        n = len(self.intent.events)
        capturable = self.intent.amount_capturable
        requested = data.draw(st.none() | st.integers(1, capturable), label="amount_to_capture")
        amount = self.intent.check_capture(requested)
        assert amount == (capturable if requested is None else requested)
        self.intent.captured(amount)
        assert self.intent.status is Status.SUCCEEDED
        assert self.intent.amount_received == amount
        assert self._new_events(n) == ["charge.captured", "payment_intent.succeeded"]

    @precondition(lambda self: self.intent.status is Status.REQUIRES_CAPTURE)
    @rule(excess=st.integers(1, 10**9))
    def capture_too_much(self, excess: int) -> None:
        over = self.intent.amount_capturable + excess
        self._refused(lambda: self.intent.check_capture(over), InvalidAmount)

    @precondition(lambda self: self.intent.status not in TERMINAL)
    @rule(
        reason=st.none() | st.sampled_from(["duplicate", "abandoned"]),
        trigger=st.sampled_from([Trigger.CANCEL, Trigger.EXPIRE]),
    )
    def cancel(self, reason: str | None, trigger: Trigger) -> None:
        n = len(self.intent.events)
        if self.intent.status not in allowed_from(trigger):
            self._refused(lambda: self.intent.canceled(reason, 1, trigger=trigger), UnexpectedState)
            return
        if trigger is Trigger.CANCEL:
            self.intent.check_cancel()
        self.clock += 1
        self.intent.canceled(reason, self.clock, trigger=trigger)
        assert self.intent.status is Status.CANCELED
        assert self.intent.canceled_at == self.clock
        assert self.intent.cancellation_reason == reason
        assert self._new_events(n) == ["payment_intent.canceled"]

    @rule(operation=st.sampled_from(OPERATIONS))
    def refused(self, operation: str) -> None:
        """Any operation the current status does not allow raises and changes nothing."""
        status = self.intent.status
        allowed, call, ignore = {
            "update_payment_method": (
                status in UPDATABLE,
                lambda: self.intent.update({"payment_method": "pm_late"}),
                (),
            ),
            "confirm": (
                status in UPDATABLE and bool(self.intent.payment_method),
                self.intent.begin_confirmation,
                (),
            ),
            # latest_charge: see test_a_late_authorization_does_not_touch_a_final_intent
            "authorized": (
                status in (Status.PROCESSING, Status.REQUIRES_ACTION),
                lambda: self.intent.authorized("ch_late"),
                ("latest_charge",),
            ),
            "declined": (
                status in (Status.PROCESSING, Status.REQUIRES_ACTION),
                lambda: self.intent.declined(decline_error(), "ch_late"),
                (),
            ),
            "psp_unavailable": (status is Status.PROCESSING, self.intent.psp_unavailable, ()),
            "check_capture": (
                status is Status.REQUIRES_CAPTURE,
                lambda: self.intent.check_capture(None),
                (),
            ),
            "captured": (status is Status.REQUIRES_CAPTURE, lambda: self.intent.captured(1), ()),
            "check_cancel": (
                status in allowed_from(Trigger.CANCEL),
                self.intent.check_cancel,
                (),
            ),
            "canceled": (
                status in allowed_from(Trigger.CANCEL),
                lambda: self.intent.canceled(None, 1),
                (),
            ),
            "expire": (
                status is Status.REQUIRES_CAPTURE,
                lambda: self.intent.canceled("abandoned", 1, trigger=Trigger.EXPIRE),
                (),
            ),
        }[operation]
        if not allowed:
            self._refused(call, InvalidRequest, ignore=ignore)

    # invariants

    @invariant()
    def amounts_stay_in_bounds(self) -> None:
        intent = self.intent
        assert 0 <= intent.amount_received <= intent.amount
        if intent.status is Status.REQUIRES_CAPTURE:
            assert intent.amount_capturable == intent.amount
        else:
            assert intent.amount_capturable == 0
        if intent.status is Status.SUCCEEDED:
            assert intent.amount_received > 0
        else:
            assert intent.amount_received == 0

    @invariant()
    def canceled_has_a_time(self) -> None:
        if self.intent.status is Status.CANCELED:
            assert self.intent.canceled_at is not None
        else:
            assert self.intent.canceled_at is None

    @invariant()
    def events_are_stripe_event_types(self) -> None:
        for event in self.intent.events:
            assert event.startswith(("payment_intent.", "charge."))
            assert event in STRIPE_EVENT_TYPES

    @invariant()
    def payment_errors_only_while_waiting_for_a_new_attempt(self) -> None:
        if self.intent.last_payment_error is not None:
            assert self.intent.status in (
                Status.REQUIRES_PAYMENT_METHOD,
                Status.REQUIRES_CONFIRMATION,
                Status.CANCELED,
            )

    @invariant()
    def object_is_consistent(self) -> None:
        obj = self.intent.as_stripe_object()
        assert obj["object"] == "payment_intent"
        assert obj["status"] == self.intent.status.value
        assert obj["amount_capturable"] == self.intent.amount_capturable
        assert obj["metadata"] is not self.intent.metadata  # a copy, not the live dict


IntentLifecycle.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None
)
TestIntentLifecycle = IntentLifecycle.TestCase


# -- customer actions (3-D Secure, redirects) and delayed results ---------------------------------


def test_a_challenge_waits_for_the_customer_then_authorizes() -> None:
    intent = make_intent()
    intent.return_url = "https://shop.example/back"
    intent.begin_confirmation()
    intent.requires_action("https://psp.example/pages/3ds/psp_1")
    assert intent.status is Status.REQUIRES_ACTION
    body = intent.as_stripe_object()
    assert body["next_action"] == {
        "type": "redirect_to_url",
        "redirect_to_url": {
            "url": "https://psp.example/pages/3ds/psp_1",
            "return_url": "https://shop.example/back",
        },
    }
    assert "payment_intent.requires_action" in intent.events
    intent.authorized("ch_1")
    assert intent.status is Status.SUCCEEDED
    assert intent.next_action is None


def test_a_failed_challenge_returns_to_requires_payment_method_without_next_action() -> None:
    intent = make_intent()
    intent.begin_confirmation()
    intent.requires_action("https://psp.example/pages/3ds/psp_1")
    intent.declined(decline_error(), "ch_1")
    assert intent.status is Status.REQUIRES_PAYMENT_METHOD
    assert intent.next_action is None
    assert intent.as_stripe_object()["next_action"] is None


def test_a_bank_redirect_goes_back_to_processing_after_the_customer_approves() -> None:
    intent = make_intent()
    intent.begin_confirmation()
    intent.requires_action("https://psp.example/pages/bank/psp_1")
    intent.events.clear()
    intent.awaiting_result("ch_1")
    assert intent.status is Status.PROCESSING
    assert intent.events == ["payment_intent.processing", "charge.pending"]
    charge = intent.as_charge_object(payment_method="pm_ideal")
    assert (charge["status"], charge["paid"]) == ("pending", False)


def test_a_debit_is_processing_until_the_psp_reports() -> None:
    intent = make_intent()
    intent.begin_confirmation()
    intent.events.clear()
    intent.awaiting_result("ch_1")
    assert intent.status is Status.PROCESSING
    assert intent.events == ["charge.pending"]
    intent.authorized("ch_1")
    assert intent.status is Status.SUCCEEDED


def test_confirming_again_while_the_customer_acts_is_refused() -> None:
    intent = make_intent()
    intent.begin_confirmation()
    intent.requires_action("https://psp.example/pages/3ds/psp_1")
    with pytest.raises(UnexpectedState, match="requires_action"):
        intent.begin_confirmation()


def test_nothing_waits_again_once_final() -> None:
    intent = make_intent()
    intent.begin_confirmation()
    intent.authorized("ch_1")
    with pytest.raises(UnexpectedState):
        intent.awaiting_result("ch_1")
    with pytest.raises(UnexpectedState):
        intent.requires_action("https://psp.example/x")
