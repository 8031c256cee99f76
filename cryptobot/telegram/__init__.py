"""The Telegram bot: commands from allowed chats (:mod:`.replies`) and the polling loop
(:mod:`.bot`). Alerts are :mod:`cryptobot.alerts`; delivery is :mod:`cryptobot.notify`."""

from cryptobot.telegram.bot import BotStats, TelegramBot
from cryptobot.telegram.replies import COMMANDS, Ask, Reply

__all__ = ["COMMANDS", "Ask", "BotStats", "Reply", "TelegramBot"]
