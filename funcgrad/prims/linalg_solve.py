"""Linear solves and factorisations: cholesky, triangular_solve (and triangular_matmul, the
product its derivatives and cholesky's need), solve, inv, slogdet, det (with cofactor, the
matrix its derivative needs), lu and lu_pivots_to_permutation.

Every primitive works on stacks of matrices (..., m, n). Operands of one application have the
same leading (stack) axes: the funcgrad.numpy and funcgrad.scipy functions broadcast them, so
the rules never do, and a batch rule only moves the vmap axis among the stack axes and binds
the same primitive (no loop over the batch). A right-hand side is always a stack of matrices
(..., n, k); the public functions add and remove the column of a vector `b`.

Derivatives, in JAX's conventions (a cotangent c pairs with a tangent t as Re(sum(c t)), no
conjugation, so the transpose of a complex-linear map is its plain transpose):

- cholesky: A = L L^H, dL = L Phi(L^-1 S L^-H) with S = (dA + dA^H) / 2 and Phi the lower
  triangle with half the diagonal. The value reads the lower triangle of A only (as NumPy);
  the derivative is taken along the Hermitian part of dA (as JAX): the factorisation is a
  function of Hermitian matrices, and its gradient is a Hermitian matrix.
- triangular_solve: op(A) X = B (or X op(A) = B), op one of A, A^T, A^H, conj(A). Linear in
  B: its transpose is the solve with op(A)^T. In A: dX = -op(A)^-1 op(dA) X, with dA restricted
  to the triangle the solve reads (without the diagonal when it is a unit diagonal).
- triangular_matmul: op(T) B (or B op(T)), T the triangle of A. Bilinear: in B its transpose
  flips transpose_a; in A it is the triangle of ct B^T (B^T ct) with op undone.
- solve: A X = B. Linear in B, transpose: solve(A^T, ct); dX = A^-1 (dB - dA X).
- inv: dX = -X dA X.
- slogdet: d logabsdet = Re tr(A^-1 dA); d sign = sign * i Im tr(A^-1 dA) (complex A; a real
  sign is piecewise constant). Never forms det, so nothing overflows.
- det: d det = sum(cofactor(A) * dA), exact at singular matrices too: the cofactor matrix
  (the transpose of the adjugate) comes from an SVD, A = U S V^H, adj(A) = det(U) det(V^H)
  V diag(prod_{j != i} s_j) U^H, which needs no inverse. Its own derivative (det's second) is
  tr(A^-1 dA) C - C dA^T A^-T, which needs A^-1: at an exactly singular matrix it raises
  LinAlgError instead of returning a wrong number.
- lu: P A = L U (partial pivoting), outputs (lu, pivots, permutation) as JAX's lu_p: dLU from
  L^-1 P dA U^-1 split into its strictly lower part (times L) and upper part (U times it).
  SciPy only (pip install 'funcgrad[scipy]'); the pivots have no derivative.

- lu_pivots_to_permutation: LAPACK's row interchanges as a permutation (integers, no
  derivative).

Errors (singular, not positive definite) are LinAlgError (a ValueError) naming the operation,
the matrix (its index in a stack) and the user's line, raised when the primitive is evaluated:
eagerly, under jit and inside transformations alike. The primitives that can raise (cholesky,
triangular_solve, solve, inv, lu_pivots_to_permutation) declare `checks_values`; slogdet, det,
cofactor and lu never raise on values (a singular matrix has a zero determinant and an LU
factorisation). Under jit the line is the call of the jitted function.
"""
from __future__ import annotations

import math
import os
import sys
import warnings

import numpy as np

from .. import util as _util
from ..core.ir import is_undefined
from ..core.primitive import Primitive
from ..core.source import user_source
from ..core.types import ArrayType
from .elementwise import add, conj, mul, neg, real, select, sub
from .indexing import concatenate, getitem, take_along_axis
from .linalg import dot_general
from .linalg import dtype_of as _dtype
from .linalg import is_complex as _is_complex
from .linalg import matrix_transpose as _mT
from .shape import (
    batch_size,
    bdim_to,
    broadcast_to,
    move_axis,
    reduce_sum,
    reshape,
    shape_of,
    zeros,
)

LinAlgError = np.linalg.LinAlgError
_INEXACT = frozenset(np.dtype(t) for t in (np.float32, np.float64, np.complex64, np.complex128))
# SciPy's triangular solver beats a batched np.linalg.solve (an LU of the triangular matrix)
# on one matrix, or on matrices at least this large; below it, NumPy's batched call wins.
_SCIPY_MIN_N = 64


# --- helpers ---------------------------------------------------------------------------------

def _conj(x):
    return conj(x) if _is_complex(x) else x


def _matmul(x, y):
    """x @ y for two stacks with the same stack axes."""
    nd = len(shape_of(x))
    stack = tuple(range(nd - 2))
    return dot_general(x, y, ((nd - 1,), (nd - 2,)), (stack, stack))


def _last_two(x) -> tuple:
    nd = len(shape_of(x))
    return (nd - 2, nd - 1)


def _trace_of_product(xt, t):
    """sum over the last two axes of xt * t: tr(X t) when xt is X^T."""
    return reduce_sum(mul(xt, t), _last_two(t))


def _triangle_mask(m: int, n: int, lower: bool, strict: bool) -> np.ndarray:
    """The positions of the lower (upper) triangle of an m x n matrix, its diagonal unless
    `strict`."""
    if lower:
        return np.tri(m, n, -1 if strict else 0, dtype=bool)
    return ~np.tri(m, n, 0 if strict else -1, dtype=bool)


def _triangle(x, lower: bool, strict: bool = False):
    """x with zeros outside its lower (upper) triangle."""
    m, n = shape_of(x)[-2:]
    return select(_triangle_mask(m, n, lower, strict), x, 0.0)


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _internal(filename: str) -> bool:
    # funcgrad's own files and the code jit generates ("<funcgrad.jit ...>")
    return (filename.startswith(("<funcgrad", "<frozen"))
            or os.path.abspath(filename).startswith(_PACKAGE_DIR))


def _user_line() -> str:
    """' at file:line (in fn)' of the user's code for an error raised while evaluating: the line
    that made the equation (in a backward pass), else the first frame outside funcgrad and its
    generated code (under jit: the call of the jitted function)."""
    src = user_source()
    if src is not None and not src.file.startswith("<"):
        return f" at {src.long()}"
    frame = sys._getframe(1)
    while frame is not None and _internal(frame.f_code.co_filename):
        frame = frame.f_back
    if frame is None:
        return ""
    return f" at {frame.f_code.co_filename}:{frame.f_lineno} (in {frame.f_code.co_name})"


def _raises(fn, m) -> bool:
    try:
        fn(m)
    except LinAlgError:
        return True
    return False


def _linalg_error(name: str, problem: str, a: np.ndarray, bad) -> LinAlgError:
    """A LinAlgError naming the operation, the first matrix of the stack `a` for which
    `bad(matrix)` holds, and the user's line."""
    which = f"the matrix of shape {a.shape}"
    stack = a.shape[:-2]
    if stack:
        for idx in np.ndindex(stack):
            if bad(a[idx]):
                which = f"matrix {list(idx)} of the stack of shape {a.shape}"
                break
        else:
            which = f"a matrix of the stack of shape {a.shape}"
    return LinAlgError(f"{name}: {which} {problem}{_user_line()}")


def _check_dtypes(name: str, *avals: ArrayType) -> np.dtype:
    for a in avals:
        if a.dtype not in _INEXACT:
            raise TypeError(f"{name}: linear algebra needs float32, float64, complex64 or "
                            f"complex128 operands, got {a.short()}")
    if len({a.dtype for a in avals}) > 1:
        raise TypeError(f"{name}: the operands must have one dtype, got "
                        f"{', '.join(a.short() for a in avals)}")
    return avals[0].dtype


def _check_matrix(name: str, x: ArrayType, what: str = "a", square: bool = True) -> None:
    if x.ndim < 2:
        raise LinAlgError(f"{name}: {what} of shape {x.shape} is not a matrix: it must have at "
                          f"least two axes (a stack of matrices (..., m, n))")
    if square and x.shape[-1] != x.shape[-2]:
        raise LinAlgError(f"{name}: {what} of shape {x.shape} is not square in its last two "
                          f"axes")


def _stack_count(shape) -> int:
    return math.prod(shape[:-2])


def _batch_matrixwise(prim, core: int = 2):
    """Batch rule of a primitive of one operand that maps each matrix (each vector: core=1)
    of a stack on its own: the vmap axis is one more stack axis (moved in front of the last
    `core` axes when it is among them), and every output keeps it there."""
    def rule(vals, dims, **params):
        (x,), (d,) = vals, dims
        nd = len(shape_of(x))
        if d >= nd - core:
            x, d = move_axis(x, d, 0), 0
        out = prim.bind(x, **params)
        return (out, [d] * len(out)) if prim.multiple_results else (out, d)
    return rule


def _batch_rhs(prim):
    """Batch rule of a solve against right-hand sides b. With A unbatched, the vmap axis of b
    joins its columns (left-side solves) or rows (right-side): one factorisation serves the
    whole batch. Otherwise both operands get the axis in front."""
    def rule(vals, dims, **params):
        (a, b), (da, db) = vals, dims
        if da is None:
            nd = len(shape_of(b))
            left = params.get("left_side", True)
            pos = nd - 1 if left else nd - 3
            b = move_axis(b, db, pos)
            s = shape_of(b)
            merged = s[:-2] + (s[-2] * s[-1],) if left else s[:-3] + (s[-3] * s[-2], s[-1])
            return reshape(prim.bind(a, reshape(b, merged), **params), s), pos
        n = batch_size(vals, dims)
        return prim.bind(bdim_to(a, da, 0, n), bdim_to(b, db, 0, n), **params), 0
    return rule


def _scipy_linalg():
    """scipy.linalg, or None without SciPy (then NumPy does the work)."""
    try:
        return _util.optional_import("scipy.linalg", "a triangular solve", "scipy")
    except ImportError:
        return None


# --- cholesky --------------------------------------------------------------------------------

def _cholesky_type(a: ArrayType):
    _check_matrix("cholesky", a)
    _check_dtypes("cholesky", a)
    return a.strong()


def _cholesky_impl(a):
    try:
        return np.linalg.cholesky(a)
    except LinAlgError:
        raise _linalg_error("cholesky", "is not positive definite", np.asarray(a),
                            lambda m: _raises(np.linalg.cholesky, m)) from None


def _cholesky_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    low = cholesky(a)
    n = shape_of(a)[-1]
    s = mul(add(_conj(_mT(da)), da), 0.5)                # the Hermitian part of dA
    # X = L^-1 S L^-H: two triangular solves, then dL = L Phi(X)
    s_lh = triangular_solve(low, s, left_side=False, lower=True, transpose_a=True,
                            conjugate_a=True)
    x = triangular_solve(low, s_lh, left_side=True, lower=True)
    phi = np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n)
    return low, triangular_matmul(low, mul(x, phi.astype(np.finfo(_dtype(a)).dtype)))


def _cholesky_cost(a: ArrayType) -> int:
    n = a.shape[-1]
    return _stack_count(a.shape) * n ** 3 // 3


cholesky_p = Primitive("cholesky", _cholesky_impl, _cholesky_type, jvp=_cholesky_jvp,
                       cost=_cholesky_cost, fresh=True, checks_values=True)
cholesky_p.batch = _batch_matrixwise(cholesky_p)


# --- triangular_solve ------------------------------------------------------------------------

def _triangular_type(name: str, what: str):
    """The shape rule of triangular_solve and triangular_matmul (`what`: "solve",
    "product"): b (..., n, k) on the left side, (..., k, n) on the right, with a's stack
    axes."""
    def rule(a: ArrayType, b: ArrayType, *, left_side, **params):
        _check_matrix(name, a)
        _check_matrix(name, b, "b", square=False)
        _check_dtypes(name, a, b)
        n = a.shape[-1]
        if a.shape[:-2] != b.shape[:-2] or (b.shape[-2] if left_side else b.shape[-1]) != n:
            need = a.shape[:-2] + ((n, "k") if left_side else ("k", n))
            raise ValueError(f"{name}: b of shape {b.shape} does not fit a of shape {a.shape}: "
                             f"a {'left' if left_side else 'right'}-side {what} needs b of "
                             f"shape ({', '.join(map(str, need))})")
        return b.strong()
    return rule


def _zero_on_diagonal(m) -> bool:
    return not np.all(np.diagonal(m, axis1=-2, axis2=-1) != 0)


def _blas_triangular(sl, name: str, a, b, trans: int, lower: bool, unit_diagonal: bool):
    """BLAS `name` ("trsm": op(a)^-1 b, or "trmm": op(a) b) for one triangular matrix a, from
    the right on the transposes: (op(a)^-1 b)^T = b^T op(a)^-T, and likewise for the product.
    A C-ordered b is the Fortran-ordered b^T BLAS reads, with no copy, and OpenBLAS's right
    side is the faster (trsm on 200 x 200: 307 against 380-394 us), so any other b is first
    copied into C order (20 us). None where the flags cannot say op(a) (a neither C- nor
    Fortran-ordered, or conjugated without a transpose on a Fortran-ordered a)."""
    if a.flags.c_contiguous:        # a.T is Fortran-ordered: op(a)^T = op'(a.T)
        lay_a, lay_lower, lay_trans = a.T, not lower, trans
    elif a.flags.f_contiguous and trans != 2:   # (no BLAS flag conjugates without transposing)
        lay_a, lay_lower, lay_trans = a, lower, 1 - trans
    else:
        return None
    fn = sl.get_blas_funcs(name, (a, b))
    b2 = b.reshape(b.shape[0], -1)
    own = not (b2.flags.c_contiguous and b2.dtype == fn.dtype)
    bt = np.ascontiguousarray(b2, dtype=fn.dtype).T
    x = fn(1.0, lay_a, bt, side=1, lower=lay_lower, trans_a=lay_trans, diag=unit_diagonal,
           overwrite_b=own)         # (a copy made here is BLAS's to write in)
    return x.T.reshape(b.shape)


def _solve_one(sl, a, b, trans: int, lower: bool, unit_diagonal: bool):
    """op(a) x = b for one matrix: BLAS trsm (`_blas_triangular`), else SciPy's trtrs (which
    copies both into Fortran order: 400 us on 200 x 200). An exactly zero diagonal is refused
    as LAPACK's trtrs refuses it."""
    if not unit_diagonal and _zero_on_diagonal(a):
        raise LinAlgError("zero on the diagonal")
    x = _blas_triangular(sl, "trsm", a, b, trans, lower, unit_diagonal)
    if x is None:
        x = sl.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit_diagonal,
                                check_finite=False)
    return x


def _solve_triangular_left(a, b, lower, transpose_a, conjugate_a, unit_diagonal):
    """op(a) x = b for stacks with the same stack axes."""
    if conjugate_a and not transpose_a:
        a, conjugate_a = np.conj(a), False
    n = a.shape[-1]
    sl = _scipy_linalg()
    if sl is not None and (_stack_count(a.shape) == 1 or n >= _SCIPY_MIN_N):
        trans = (2 if conjugate_a else 1) if transpose_a else 0
        if a.ndim == 2:
            return _solve_one(sl, a, b, trans, lower, unit_diagonal)
        out = np.empty(b.shape, b.dtype)
        for idx in np.ndindex(a.shape[:-2]):
            out[idx] = _solve_one(sl, a[idx], b[idx], trans, lower, unit_diagonal)
        return out
    # NumPy only: the triangle as a full matrix (exactly triangular), solved by LU, which
    # need not meet an exactly zero pivot where the diagonal has a zero
    if not unit_diagonal and _zero_on_diagonal(a):
        raise LinAlgError("zero on the diagonal")
    t = np.tril(a) if lower else np.triu(a)
    if unit_diagonal:
        i = np.arange(n)
        t[..., i, i] = 1
    if transpose_a:
        t = np.swapaxes(t, -1, -2)
    if conjugate_a:
        t = np.conj(t)
    return np.linalg.solve(t, b)


def _triangular_solve_impl(a, b, *, left_side, lower, transpose_a, conjugate_a,
                           unit_diagonal):
    a, b = np.asarray(a), np.asarray(b)
    if not left_side:       # x op(a) = b  <=>  op(a)^T x^T = b^T
        xt = _triangular_solve_impl(a, np.swapaxes(b, -1, -2), left_side=True, lower=lower,
                                    transpose_a=not transpose_a, conjugate_a=conjugate_a,
                                    unit_diagonal=unit_diagonal)
        return np.swapaxes(xt, -1, -2)
    if b.size == 0:
        if not unit_diagonal and a.size and _zero_on_diagonal(a):
            raise _linalg_error("triangular_solve", "is singular: its diagonal has a zero", a,
                                _zero_on_diagonal)
        return np.zeros(b.shape, b.dtype)
    try:
        return _solve_triangular_left(a, b, lower, transpose_a, conjugate_a, unit_diagonal)
    except LinAlgError:
        raise _linalg_error("triangular_solve", "is singular: its diagonal has a zero", a,
                            _zero_on_diagonal) from None


def _op(x, transpose_a: bool, conjugate_a: bool):
    if transpose_a:
        x = _mT(x)
    return _conj(x) if conjugate_a else x


def _triangular_solve_jvp(primals, tangents, **params):
    (a, b), (da, db) = primals, tangents
    x = triangular_solve_p.bind(a, b, **params)
    rhs = db
    if da is not None:
        # only the triangle the solve reads moves the solution
        da = _triangle(da, params["lower"], strict=params["unit_diagonal"])
        da = _op(da, params["transpose_a"], params["conjugate_a"])
        prod = _matmul(da, x) if params["left_side"] else _matmul(x, da)
        rhs = neg(prod) if rhs is None else sub(rhs, prod)
    return x, triangular_solve_p.bind(a, rhs, **params)


def _triangular_solve_transpose(ct, a, b, **params):
    if is_undefined(a):
        raise NotImplementedError("triangular_solve is linear in b only, not in a")
    # b -> op(a)^-1 b transposes to ct -> op(a)^-T ct, and op(a)^T flips transpose_a only:
    # (a^H)^T = conj(a), conj(a)^T = a^H.
    return [None, triangular_solve_p.bind(a, ct, **{**params,
                                                    "transpose_a": not params["transpose_a"]})]


def _triangular_cost(a: ArrayType, b: ArrayType, *, left_side, **params) -> int:
    """n^2 k multiply-adds per matrix: triangular_solve's and triangular_matmul's."""
    n = a.shape[-1]
    k = b.shape[-1] if left_side else b.shape[-2]
    return _stack_count(a.shape) * n * n * k


triangular_solve_p = Primitive("triangular_solve", _triangular_solve_impl,
                               _triangular_type("triangular_solve", "solve"),
                               jvp=_triangular_solve_jvp,
                               transpose=_triangular_solve_transpose,
                               cost=_triangular_cost, fresh=True, checks_values=True)
triangular_solve_p.batch = _batch_rhs(triangular_solve_p)


# --- triangular_matmul -----------------------------------------------------------------------
# op(T) B (or B op(T)) with T the lower (upper) triangle of a: BLAS trmm, half a general
# product's work. Cholesky's derivative multiplies by its factor with it.

def _triangular_matmul_impl(a, b, *, left_side, lower, transpose_a, conjugate_a):
    a, b = np.asarray(a), np.asarray(b)
    if not left_side:       # b op(a) = (op(a)^T b^T)^T
        yt = _triangular_matmul_impl(a, np.swapaxes(b, -1, -2), left_side=True, lower=lower,
                                     transpose_a=not transpose_a, conjugate_a=conjugate_a)
        return np.swapaxes(yt, -1, -2)
    if conjugate_a and not transpose_a:
        a, conjugate_a = np.conj(a), False
    sl = _scipy_linalg()
    if sl is not None and a.ndim == 2 and a.shape[-1] >= _SCIPY_MIN_N and b.size:
        y = _blas_triangular(sl, "trmm", a, b, (2 if conjugate_a else 1) if transpose_a else 0,
                             lower, False)
        if y is not None:
            return y
    t = np.tril(a) if lower else np.triu(a)     # small or stacked: NumPy's batched product
    if transpose_a:
        t = np.swapaxes(t, -1, -2)
    return np.matmul(np.conj(t) if conjugate_a else t, b)


def _triangular_matmul_jvp(primals, tangents, **params):
    (a, b), (da, db) = primals, tangents
    y = triangular_matmul_p.bind(a, b, **params)
    terms = [triangular_matmul_p.bind(da, b, **params)] if da is not None else []
    if db is not None:
        terms.append(triangular_matmul_p.bind(a, db, **params))
    return y, terms[0] if len(terms) == 1 else add(*terms)


def _triangular_matmul_transpose(ct, a, b, **params):
    if is_undefined(a) and is_undefined(b):
        raise NotImplementedError("triangular_matmul is bilinear: linear in a or in b")
    if is_undefined(b):     # b -> op(T) b transposes to ct -> op(T)^T ct (see the solve's)
        return [None, triangular_matmul_p.bind(
            a, ct, **{**params, "transpose_a": not params["transpose_a"]})]
    # a -> sum(ct * op(T) b) = sum((ct b^T) * op(T)): the triangle of g = ct b^T, undoing op
    # (the transpose of conj is conj)
    g = _matmul(ct, _mT(b)) if params["left_side"] else _matmul(_mT(b), ct)
    if params["transpose_a"]:
        g = _mT(g)
    if params["conjugate_a"]:
        g = conj(g)
    return [_triangle(g, params["lower"]), None]


triangular_matmul_p = Primitive("triangular_matmul", _triangular_matmul_impl,
                                _triangular_type("triangular_matmul", "product"),
                                jvp=_triangular_matmul_jvp,
                                transpose=_triangular_matmul_transpose,
                                cost=_triangular_cost, fresh=True)
triangular_matmul_p.batch = _batch_rhs(triangular_matmul_p)


# --- solve -----------------------------------------------------------------------------------

# For matrices this small, an LU inside the compiled tier's kernel beats a LAPACK call (NumPy
# calls gesv per matrix: 0.44 us a solve, 1.0 us an inverse, on 8 x 8).
_KERNEL_MAX_N = 16


def _kernel_lu(helper: str):
    """The `native` rule of solve (inv): one call of the kernel helper `helper`
    (compile/_numba_lib.py: LAPACK's unblocked LU and substitutions) over the stack, for small
    real matrices of one dtype; a singular matrix sets the kernel's guard, and NumPy redoes
    the call and raises. Larger, complex or mixed-dtype operands stay NumPy code (LAPACK)."""
    def rule(k, args, eqn):
        avals = [v.aval for v in (*eqn.inputs, *eqn.outputs)]
        a = avals[0]
        if a.ndim > 3 or a.shape[-1] > _KERNEL_MAX_N or a.dtype.kind != "f" or \
                any(v.dtype != a.dtype or v.size == 0 for v in avals):
            raise k.Unsupported(f"{eqn.primitive.name} of {a.short()}")
        out = k.tmp()
        k.line(f"{out} = np.empty({eqn.outputs[0].aval.shape}, {k.dtype(a.dtype)})")
        k.guard(f"{helper}({', '.join(args)}, {out})")
        return out
    rule.own_loop = True    # a loop over the stack: worth a kernel alone, at any size
    return rule


def _solve_type(a: ArrayType, b: ArrayType):
    _check_matrix("solve", a)
    _check_matrix("solve", b, "b", square=False)
    _check_dtypes("solve", a, b)
    if a.shape[:-2] != b.shape[:-2] or b.shape[-2] != a.shape[-1]:
        raise ValueError(f"solve: b of shape {b.shape} does not fit a of shape {a.shape}: it "
                         f"needs shape ({', '.join(map(str, a.shape[:-1]))}, k)")
    return b.strong()


def _solve_impl(a, b):
    try:
        return np.linalg.solve(a, b)
    except LinAlgError:
        raise _linalg_error("solve", "is singular", np.asarray(a),
                            lambda m: _raises(np.linalg.inv, m)) from None


def _solve_jvp(primals, tangents):
    (a, b), (da, db) = primals, tangents
    x = solve(a, b)
    rhs = db
    if da is not None:
        prod = _matmul(da, x)
        rhs = neg(prod) if rhs is None else sub(rhs, prod)
    return x, solve(a, rhs)


def _solve_transpose(ct, a, b):
    if is_undefined(a):
        raise NotImplementedError("solve is linear in b only, not in a")
    return [None, solve(_mT(a), ct)]


def _solve_cost(a: ArrayType, b: ArrayType) -> int:
    n, k = a.shape[-1], b.shape[-1]
    return _stack_count(a.shape) * (2 * n ** 3 // 3 + 2 * n * n * k)


solve_p = Primitive("solve", _solve_impl, _solve_type, jvp=_solve_jvp,
                    transpose=_solve_transpose, native=_kernel_lu("small_solve"),
                    cost=_solve_cost, fresh=True, checks_values=True)
solve_p.batch = _batch_rhs(solve_p)


# --- inv -------------------------------------------------------------------------------------

def _square_type(name):
    def rule(a: ArrayType):
        _check_matrix(name, a)
        _check_dtypes(name, a)
        return a.strong()
    return rule


def _inv_impl(a):
    try:
        return np.linalg.inv(a)
    except LinAlgError:
        raise _linalg_error("inv", "is singular (the derivatives of slogdet and the second "
                            "derivative of det need its inverse too)", np.asarray(a),
                            lambda m: _raises(np.linalg.inv, m)) from None


def _inv_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    x = inv(a)
    return x, neg(_matmul(_matmul(x, da), x))


inv_p = Primitive("inv", _inv_impl, _square_type("inv"), jvp=_inv_jvp,
                  native=_kernel_lu("small_inv"),
                  cost=lambda a: _stack_count(a.shape) * 2 * a.shape[-1] ** 3, fresh=True,
                  checks_values=True)
inv_p.batch = _batch_matrixwise(inv_p)


# --- slogdet, det and the cofactor matrix ----------------------------------------------------

def _slogdet_type(a: ArrayType):
    _check_matrix("slogdet", a)
    dtype = _check_dtypes("slogdet", a)
    return [ArrayType(a.shape[:-2], dtype), ArrayType(a.shape[:-2], np.finfo(dtype).dtype)]


def _slogdet_impl(a):
    sign, logabsdet = np.linalg.slogdet(a)
    return [sign, logabsdet]


def _slogdet_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    sign, logabsdet = slogdet(a)
    tr = _trace_of_product(_mT(inv(a)), da)            # tr(A^-1 dA): no determinant formed
    if not _is_complex(a):
        return [sign, logabsdet], [None, tr]
    i_imag = mul(sub(tr, conj(tr)), 0.5)                # i Im tr(A^-1 dA)
    return [sign, logabsdet], [mul(sign, i_imag), real(tr)]


def _det_cost(a: ArrayType) -> int:
    return _stack_count(a.shape) * 2 * a.shape[-1] ** 3 // 3


slogdet_p = Primitive("slogdet", _slogdet_impl, _slogdet_type, jvp=_slogdet_jvp,
                      cost=_det_cost, multiple_results=True)
slogdet_p.batch = _batch_matrixwise(slogdet_p)


def _det_type(a: ArrayType):
    _check_matrix("det", a)
    return ArrayType(a.shape[:-2], _check_dtypes("det", a))


def _det_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    # d det = tr(adj(A) dA) = sum(cofactor(A) * dA): exact at singular matrices too
    return det(a), _trace_of_product(cofactor(a), da)


det_p = Primitive("det", np.linalg.det, _det_type, jvp=_det_jvp, cost=_det_cost, fresh=True)
det_p.batch = _batch_matrixwise(det_p)


def _cofactor_impl(a):
    """The cofactor matrix adj(A)^T from the SVD A = U S V^H: adj(A) = det(U) det(V^H)
    V diag(prod_{j != i} s_j) U^H. No inverse: exact for singular matrices (rank n-1 gives
    the rank-one adjugate, lower ranks zero)."""
    a = np.asarray(a)
    if a.size == 0:
        return np.zeros(a.shape, a.dtype)
    try:
        u, s, vh = np.linalg.svd(a)
    except LinAlgError:         # no convergence (non-finite entries)
        return np.full(a.shape, np.nan, a.dtype)
    one = np.ones(s.shape[:-1] + (1,), s.dtype)
    before = np.cumprod(np.concatenate([one, s[..., :-1]], -1), -1)    # prod s[:i]
    after = np.cumprod(np.concatenate([one, s[..., :0:-1]], -1), -1)[..., ::-1]  # s[i+1:]
    scale = np.linalg.det(u) * np.linalg.det(vh)
    v_scaled = np.conj(np.swapaxes(vh, -1, -2)) * (before * after)[..., None, :]
    adj = np.matmul(v_scaled, np.conj(np.swapaxes(u, -1, -2))) * scale[..., None, None]
    return np.ascontiguousarray(np.swapaxes(adj, -1, -2))


def _cofactor_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    c = cofactor(a)
    # C = det(A) A^-T: dC = tr(A^-1 dA) C - C dA^T A^-T (A^-1 exists only where the matrix
    # is invertible: det's second derivative at a singular matrix raises LinAlgError)
    x_t = _mT(inv(a))
    tr = _trace_of_product(x_t, da)
    tr = reshape(tr, shape_of(tr) + (1, 1))
    return c, sub(mul(c, tr), _matmul(_matmul(c, _mT(da)), x_t))


cofactor_p = Primitive("cofactor", _cofactor_impl, _square_type("cofactor"),
                       jvp=_cofactor_jvp, fresh=True,
                       # an SVD with both sets of vectors: about 22 n^3 (LAPACK's count)
                       cost=lambda a: _stack_count(a.shape) * 22 * a.shape[-1] ** 3)
cofactor_p.batch = _batch_matrixwise(cofactor_p)


# --- lu and its pivots -----------------------------------------------------------------------

def _pivots_type(piv: ArrayType, *, m):
    if piv.ndim < 1 or piv.dtype.kind not in "iu":
        raise TypeError(f"lu_pivots_to_permutation: pivots must be an integer array of at "
                        f"least one axis, got {piv.short()}")
    if piv.shape[-1] > m:
        raise ValueError(f"lu_pivots_to_permutation: {piv.shape[-1]} pivots (shape "
                         f"{piv.shape}) cannot permute {m} rows")
    return ArrayType(piv.shape[:-1] + (m,), np.int32)


def _pivots_impl(piv, *, m):
    """The row permutation that LAPACK's pivots (swap row i with row piv[i], in order) make:
    perm such that A[perm] = L U."""
    piv = np.asarray(piv)
    k = piv.shape[-1]
    if piv.size and (piv.min() < 0 or piv.max() >= m):
        raise IndexError(f"lu_pivots_to_permutation: pivot indices must lie in [0, {m}), got "
                         f"values from {piv.min()} to {piv.max()}{_user_line()}")
    perm = np.empty(piv.shape[:-1] + (m,), np.int32)
    perm[...] = np.arange(m, dtype=np.int32)
    if k == 0 or perm.size == 0:
        return perm
    flat, pv = perm.reshape(-1, m), piv.reshape(-1, k)
    rows = np.arange(flat.shape[0])
    for i in range(k):
        j = pv[:, i]
        here = flat[:, i].copy()
        flat[:, i] = flat[rows, j]
        flat[rows, j] = here
    return perm


lu_pivots_to_permutation_p = Primitive(
    "lu_pivots_to_permutation", _pivots_impl, _pivots_type, nondiff=True,
    cost=lambda piv, *, m: 0, fresh=True, checks_values=True)
lu_pivots_to_permutation_p.batch = _batch_matrixwise(lu_pivots_to_permutation_p, core=1)


def _lu_type(a: ArrayType):
    _check_matrix("lu", a, square=False)
    dtype = _check_dtypes("lu", a)
    m, n = a.shape[-2:]
    stack = a.shape[:-2]
    return [ArrayType(a.shape, dtype), ArrayType(stack + (min(m, n),), np.int32),
            ArrayType(stack + (m,), np.int32)]


def _lu_impl(a):
    sl = _util.optional_import("scipy.linalg", "the LU factorisation (lu, lu_factor)", "scipy")
    a = np.asarray(a)
    m, n = a.shape[-2:]
    k = min(m, n)
    if a.size == 0:
        lu_ = np.zeros(a.shape, a.dtype)
        piv = np.empty(a.shape[:-2] + (k,), np.int32)
        piv[...] = np.arange(k, dtype=np.int32)
    else:
        with warnings.catch_warnings():     # a singular matrix has an LU factorisation too
            warnings.simplefilter("ignore", sl.LinAlgWarning)
            lu_, piv = sl.lu_factor(a, check_finite=False)
        piv = np.asarray(piv, np.int32)
    return [lu_, piv, _pivots_impl(piv, m=m)]


def _lu_jvp(primals, tangents):
    """JAX's lu_jvp_rule: with P A = L U, L^-1 P dA U^-1 = L^-1 dL + dU U^-1, strictly lower
    plus upper; a rectangular factor is completed to a square L (m x m) and U (n x n)."""
    (a,), (da,) = primals, tangents
    lu_, piv, perm = lu(a)
    shape = shape_of(a)
    stack, (m, n), nd = shape[:-2], shape[-2:], len(shape)
    k = min(m, n)
    dtype = _dtype(a)
    x = take_along_axis(da, reshape(perm, stack + (m, 1)), nd - 2)     # P dA
    low = _triangle(getitem(lu_, (Ellipsis, slice(None), slice(0, k))), True, strict=True)
    if m > k:
        low = concatenate([low, zeros(ArrayType(stack + (m, m - k), dtype))], nd - 1)
    low = add(low, np.eye(m, dtype=dtype))
    up = _triangle(getitem(lu_, (Ellipsis, slice(0, k), slice(None))), False)
    if n > k:
        rest = np.concatenate([np.zeros((n - k, k)), np.eye(n - k)], axis=1).astype(dtype)
        up = concatenate([up, broadcast_to(rest, stack + (n - k, n))], nd - 2)
    la = triangular_solve(low, x, left_side=True, lower=True, unit_diagonal=True)
    lau = triangular_solve(up, la, left_side=False, lower=False)
    dlu = add(_matmul(low, _triangle(lau, True, strict=True)), _matmul(_triangle(lau, False), up))
    return [lu_, piv, perm], [dlu, None, None]


def _lu_cost(a: ArrayType) -> int:
    m, n = a.shape[-2:]
    k = min(m, n)
    return _stack_count(a.shape) * (max(m, n) * k * k - k ** 3 // 3)


lu_p = Primitive("lu", _lu_impl, _lu_type, jvp=_lu_jvp, cost=_lu_cost, multiple_results=True)
lu_p.batch = _batch_matrixwise(lu_p)


# --- bind wrappers ---------------------------------------------------------------------------

def cholesky(a):
    """The lower Cholesky factor of each matrix (reading its lower triangle)."""
    return cholesky_p.bind(a)


def triangular_solve(a, b, *, left_side: bool = True, lower: bool = True,
                     transpose_a: bool = False, conjugate_a: bool = False,
                     unit_diagonal: bool = False):
    """op(a) x = b (left_side) or x op(a) = b, op(a) = a, a^T (transpose_a), a^H (both) or
    conj(a) (conjugate_a alone), reading the lower (upper) triangle of a."""
    return triangular_solve_p.bind(a, b, left_side=bool(left_side), lower=bool(lower),
                                   transpose_a=bool(transpose_a),
                                   conjugate_a=bool(conjugate_a) and _is_complex(a),
                                   unit_diagonal=bool(unit_diagonal))


def triangular_matmul(a, b, *, left_side: bool = True, lower: bool = True,
                      transpose_a: bool = False, conjugate_a: bool = False):
    """op(t) @ b (left_side) or b @ op(t), t the lower (upper) triangle of a, op as in
    triangular_solve."""
    return triangular_matmul_p.bind(a, b, left_side=bool(left_side), lower=bool(lower),
                                    transpose_a=bool(transpose_a),
                                    conjugate_a=bool(conjugate_a) and _is_complex(a))


def solve(a, b):
    """a x = b for stacks a (..., n, n) and b (..., n, k) with the same stack axes."""
    return solve_p.bind(a, b)


def inv(a):
    return inv_p.bind(a)


def slogdet(a):
    """[sign, log|det|] of each matrix."""
    return slogdet_p.bind(a)


def det(a):
    return det_p.bind(a)


def cofactor(a):
    """The cofactor matrix det(a) a^-T (the transpose of the adjugate), at any rank."""
    return cofactor_p.bind(a)


def lu(a):
    """[lu, pivots, permutation]: P a = L U, L unit lower (below lu's diagonal), U upper."""
    return lu_p.bind(a)


def lu_pivots_to_permutation(piv, m: int):
    return lu_pivots_to_permutation_p.bind(piv, m=int(m))
