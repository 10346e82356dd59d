"""One router per resource: ``faces`` (detect, embed, verify, identify), ``subjects`` (the gallery), ``system``
(health, metrics, the page)."""
