"""Transactional e-mail: an outbox written in the business change's transaction, rendered in
the recipient's language, and sent over SMTP by the `deliver_mail` job (docs/mail.md)."""
