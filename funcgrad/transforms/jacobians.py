"""Jacobians and Hessians (placeholder)."""
from __future__ import annotations


def jacfwd(fun, argnums=0):
    raise NotImplementedError("jacfwd is not implemented yet")


def jacrev(fun, argnums=0):
    raise NotImplementedError("jacrev is not implemented yet")


def hessian(fun, argnums=0):
    raise NotImplementedError("hessian is not implemented yet")
