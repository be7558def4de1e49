"""The offline demo: the lifecycle app against the ARM emulator, outside the deployable package.

It lives here, not in `lifecycle/`, because it needs the emulator and the deployable package never imports
it; `python -m lifecycle demo` runs `python -m demo` as a process from a source checkout.
"""
