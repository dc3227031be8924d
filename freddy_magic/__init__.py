"""freddy_magic: IPython magics for the Freddy API.

``%load_ext freddy_magic`` registers ``%freddy_auth``, ``%freddy`` and ``%%freddy``. Importing
the package is free: the magics are imported only when the extension is loaded, and requests
and ipywidgets only when a magic first needs them, so loading costs a few milliseconds.
"""

__version__ = "0.1.0"
__all__ = ["__version__", "load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython):
    from .magics import FreddyMagics

    ipython.register_magics(FreddyMagics(shell=ipython))


def unload_ipython_extension(ipython):
    """Forget every secret and unregister the magics, so ``%reload_ext`` starts clean."""
    manager = ipython.magics_manager
    magics = manager.registry.pop("FreddyMagics", None)
    if magics is None:
        return
    magics.forget()
    for kind, names in magics.magics.items():
        for name in names:
            manager.magics[kind].pop(name, None)
    if magics in ipython.configurables:
        ipython.configurables.remove(magics)
