"""`python -m card_vault serve | migrate | init-keys | rotate-key | retire-key`."""

from card_vault.cli import app

if __name__ == "__main__":
    app()
