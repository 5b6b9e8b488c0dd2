"""Store webhooks (Shopify, WooCommerce, Stripe): signature checks and order parsing.

Pure functions over the raw body and headers, no database and no network, so a live delivery
and a reprocessed one from the inbox go through exactly the same code. Every platform module
turns its payload into the same `common.OrderFact` shape.
"""
