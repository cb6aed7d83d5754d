"""Speed checks of mier_pl's hot paths against their physical limit."""
