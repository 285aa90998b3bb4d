"""Errors that tell a user porting Snorkel code how gristmill spells what they passed.

gristmill's API is its own, but many of its calls have a Snorkel counterpart whose keyword
arguments a port carries over (``fit(L_train, Y_dev=...)``, ``predict(L,
tie_break_policy=...)``, ``score(L, Y, metrics=[...])``). Python's own error for them ("got an
unexpected keyword argument") says what is wrong but not what to write instead;
:func:`snorkel_keywords` makes such a call raise a :class:`~gristmill.ParameterError` that does.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from gristmill.exceptions import ParameterError

__all__ = ["snorkel_keywords"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def snorkel_keywords(**hints: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Make a function refuse Snorkel's keyword arguments, saying how gristmill spells them.

    Parameters
    ----------
    **hints : str
        For each Snorkel keyword argument the function does not take, what to write instead.

    Returns
    -------
    callable
        A decorator; the decorated function keeps its signature and docstring.

    Raises
    ------
    ParameterError
        From the decorated function, when it is given one of ``hints``' keywords. It is also a
        TypeError, the error Python raises for an unexpected keyword argument.

    Examples
    --------
    >>> @snorkel_keywords(tie_break_policy="use tie_break= ('abstain', 'random' or 'prior')")
    ... def predict(L, *, tie_break="abstain"):
    ...     return tie_break
    >>> predict([], tie_break_policy="random")
    Traceback (most recent call last):
    ...
    gristmill.exceptions.ParameterError: predict() takes no 'tie_break_policy' (Snorkel's \
keyword argument): use tie_break= ('abstain', 'random' or 'prior')
    """

    def decorate(func: Callable[_P, _R]) -> Callable[_P, _R]:
        is_method = list(inspect.signature(func).parameters)[:1] == ["self"]

        @functools.wraps(func)
        def checked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            for name in kwargs:
                if name in hints:
                    raise ParameterError(
                        f"{_call_name(func, args[0] if is_method else None)} takes no {name!r} "
                        f"(Snorkel's keyword argument): {hints[name]}"
                    )
            return func(*args, **kwargs)

        return checked

    return decorate


def _call_name(func: Callable[..., object], instance: object) -> str:
    """How the user wrote the call: ``predict()``, ``LabelModel.fit()``, ``LabelModel()``."""
    if instance is None:
        return f"{func.__name__}()"
    owner = type(instance).__name__
    return f"{owner}()" if func.__name__ == "__init__" else f"{owner}.{func.__name__}()"
