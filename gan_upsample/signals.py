"""Signal handling shared by the entry points."""

from __future__ import annotations

import signal

__all__ = ["restore_ctrl_c"]


def restore_ctrl_c() -> None:
    """Make SIGINT raise ``KeyboardInterrupt`` again where the process inherited it ignored.

    A shell without job control starts background commands (``cmd &`` in a script, ``nohup ... &``) with SIGINT
    ignored, and Python then keeps it ignored: ``kill -INT`` did nothing, so a run never saved its ``last.ckpt``
    (:class:`~gan_upsample.callbacks.SaveOnInterrupt`) and kept going. Only an ignored SIGINT is changed; a
    handler already set stays. The entry points (``python -m gan_upsample``, the study's runs) call this first.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
