"""The only code that imports Azure SDKs: galleries, storage (policy, state, leases, audit), image builder,
event publishing. Everything above this package sees plain values and the two error kinds of `errors`."""
