"""boxoffice devstack: the local development stack and its test helpers.

Modules:
    broker: ``TansuBroker``, a Kafka-protocol broker child process (also used by test fixtures).
    mailsink: ``MailSink``, an SMTP sink storing ``.eml`` files, and ``read_messages``.
    token: ``mint_token`` for development JWTs.
    launcher: ``python -m boxoffice.devstack run``, what ``make run`` calls.
"""
