"""The clock process: in wall mode one `clock.tick` per period to every partition of `clock.ticks`."""
