"""Outbound notifications: signed webhooks to advertisers and partners, and partner postbacks.

The path of one business event (docs/adr/0008, docs/webhooks-out.md):

1. `outbox.emit` writes a `WebhookEvent` row in the transaction of the change itself, so an
   event exists exactly when its change was committed (transactional outbox).
2. `dispatch.route_events` (job `deliver_webhooks`) finds who receives it — the program's
   advertiser, the partner — and writes one `WebhookDelivery` per endpoint or postback.
3. `delivery.deliver_due` claims due deliveries and sends them (`sender.py`) to an address
   checked by `ssrf.py`, then records the outcome: delivered, failed (retried with backoff and
   jitter, same event id) or dead (the dead-letter list, retried by hand).
"""
