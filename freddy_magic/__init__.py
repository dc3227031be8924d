"""freddy_magic: IPython magics for the Freddy API.

``%load_ext freddy_magic`` registers ``%freddy_auth``, ``%freddy`` and ``%%freddy``. Importing
the package is free: the magics (and with them requests and ipywidgets) are imported only when
the extension is loaded, so a notebook that never loads it pays nothing.
"""

__version__ = "0.1.0"
__all__ = ["__version__", "load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython):
    from .magics import FreddyMagics

    ipython.register_magics(FreddyMagics(shell=ipython))


def unload_ipython_extension(ipython):
    magics = ipython.magics_manager.registry.pop("FreddyMagics", None)
    if magics is not None:
        magics.forget()
