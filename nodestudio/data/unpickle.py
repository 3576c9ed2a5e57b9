"""A pickle interpreter for data only: NumPy arrays, numbers, strings and containers.

`pickle.Unpickler` can be narrowed at `find_class` only. Its BUILD opcode still sets state on
whatever object is on the stack (an allowed function's `__dict__`, a class's attributes), and
its errors cannot say where in the file they arise. So a dataset pickle is not unpickled but
interpreted: the opcodes are parsed with the descriptions in the standard library's
`pickletools` (which also says where each one starts), and this module gives meaning to the
ones data needs, with the semantics of `pickle.py`:

* constants, tuples, lists, dicts, sets, the memo, marks, frames;
* GLOBAL / STACK_GLOBAL only for the names in `_GLOBALS`; REDUCE only on those, each checking
  its own arguments: an empty placeholder array (`_reconstruct`), a numeric dtype, a scalar, an
  array from a buffer whose size it matches (`_frombuffer`, protocol 5), the `bytes` that
  Python 3 writes in protocols 0 to 2 (`_codecs.encode(text, "latin1")`, `bytes()`);
* BUILD only on a placeholder array or a dtype that this pickle made and has not yet built,
  with state of exactly the form NumPy writes (sizes matching the bytes present);
* every other opcode (objects, extension codes, persistent ids, out-of-band buffers) refused.

Every refusal is a DatasetError naming the opcode and its byte offset. Nothing is called that
the pickle names; memory is bounded by the `max_bytes` budget (each opcode is charged what
the objects it makes can cost), and hashing is linear (dict keys and set items are flat).
"""

from __future__ import annotations

import codecs
import contextlib
import math
import pickletools
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from nodestudio.data.errors import DatasetError
from nodestudio.data.sources import over_limit

_OPCODES = {op.code.encode("latin-1"): op for op in pickletools.opcodes}
_TRACKED = (tuple, list, dict, np.ndarray)  # what `Interpreter.offset_of` can locate
_NUMERIC_KINDS = "biufc"
_TYPESTR = re.compile(r"[biufc][0-9]{1,2}")  # how NumPy's pickles spell a numeric dtype
# What one opcode may cost beyond its payload: the largest small object it can make (a
# container, a float, a slot in a dict or set).
_OPCODE_COST = 64


class _Global:
    """A name a pickle may mention: what REDUCE may call (`call`), or, with `call` None, a
    token that may only be passed along (numpy.ndarray, the class argument of _reconstruct)."""

    __slots__ = ("name", "call")

    def __init__(self, name: str, call: Callable[..., Any] | None):
        self.name, self.call = name, call

    def __repr__(self) -> str:
        return self.name


class Interpreter:
    """Runs one pickle held in `data`; `run()` returns the object it describes (also kept as
    `result`, with `stop` the offset of the STOP opcode)."""

    result: Any = None
    stop: int = 0

    def __init__(self, data: bytes | bytearray, label: str, max_bytes: int):
        self._data = data
        self._label, self._limit = label, max_bytes
        self._spent = 0  # what the objects made so far may cost, in bytes
        self._stack: list[Any] = []
        self._marks: list[list[Any]] = []
        self._memo: dict[int, Any] = {}
        self._unbuilt: dict[int, Any] = {}  # id -> placeholder array or dtype awaiting BUILD
        self._dtypes: dict[int, np.dtype] = {}  # the dtypes this pickle made (id -> dtype)
        self._pos = 0  # the offset of the opcode being run
        # id -> (offset, object) of each container and array, so that a reader can say where
        # in the file a value it rejects was made (the object is held: its id stays unique)
        self._made_at: dict[int, tuple[int, Any]] = {}

    # --- the loop ------------------------------------------------------------------------------
    def run(self) -> Any:
        reader = _Reader(self._data)
        while True:
            self._pos = reader.pos
            code = reader.read(1)
            op = _OPCODES.get(code)
            if op is None:
                raise self._error("not a readable pickle (" + (
                    "it ends before its STOP opcode)" if not code else
                    f"unknown opcode {code!r})"))
            try:
                arg = _read_arg(op, reader)
            except (ValueError, OverflowError, UnicodeError) as exc:
                raise self._error(f"not a readable pickle ({op.name}: {exc})") from None
            self._charge(_OPCODE_COST + _payload(arg))
            if op.name == "STOP":
                if self._marks or len(self._stack) != 1:
                    raise self._error("STOP with an unbalanced stack")
                result = self._stack.pop()
                if isinstance(result, _Global):
                    raise self._error(f"the pickle holds {result!r} itself, not data")
                self.result, self.stop = result, self._pos
                return result
            handler = _HANDLERS.get(op.name)
            if handler is None:
                raise self._error(f"refused opcode {op.name}: only NumPy arrays, numbers, "
                                  "strings and containers are allowed in a dataset pickle")
            try:
                handler(self, arg)
            except IndexError:  # a pop from an empty stack, memo or mark list
                raise self._error(f"{op.name} finds too few values on the stack") from None

    def _error(self, message: str) -> DatasetError:
        return DatasetError(f"byte {self._pos}: {message}", self._label, offset=self._pos)

    def _charge(self, nbytes: int) -> None:
        self._spent += nbytes
        if self._spent > self._limit:
            what = "holding the objects unpickled so far"
            raise DatasetError(f"byte {self._pos}: " + over_limit(what, None, self._limit),
                               self._label, offset=self._pos)

    # --- stack helpers -------------------------------------------------------------------------
    def _push(self, value: Any) -> None:
        if type(value) in _TRACKED and id(value) not in self._made_at:
            self._charge(_OPCODE_COST)
            self._made_at[id(value)] = (self._pos, value)
        self._stack.append(value)

    def offset_of(self, value: Any) -> int | None:
        """The byte offset of the opcode that made `value` (a container or an array)."""
        found = self._made_at.get(id(value))
        return found[0] if found is not None and found[1] is value else None

    def _pop_mark(self) -> list[Any]:
        items = self._stack
        self._stack = self._marks.pop()
        return items

    def _key(self, value: Any) -> Any:
        """`value` as a dict key or set item: flat, so that hashing it costs little."""
        if _is_flat(value) or (isinstance(value, tuple) and len(value) <= 16
                               and all(_is_flat(v) for v in value)):
            return value
        raise self._error(f"{_brief(value)} as a dict key or set item (only numbers of up to "
                          "64 bits, strings and short tuples of them)")

    def _target(self, kind: type, op: str) -> Any:
        target = self._stack[-1]
        if type(target) is not kind:
            raise self._error(f"{op} on a {type(target).__name__}, not a {kind.__name__}")
        return target

    # --- calls ---------------------------------------------------------------------------------
    def _global(self, module: Any, name: Any) -> _Global:
        if not isinstance(module, str) or not isinstance(name, str):
            raise self._error("a global named by something other than strings")
        found = _GLOBALS.get((module, name))
        if found is None:
            dotted = f"{module}.{name}"
            shown = dotted if dotted.isprintable() and len(dotted) <= 80 else _brief(dotted)
            raise self._error(f"refused to unpickle {shown}: only NumPy arrays are allowed in a "
                              "dataset pickle")
        return found

    def _reduce(self, _: Any) -> None:
        args = self._stack.pop()
        func = self._stack.pop()
        if not isinstance(func, _Global) or func.call is None:
            raise self._error(f"refused to call {_brief(func)}: only NumPy's array reconstruction "
                              "may be called")
        if not isinstance(args, tuple) or not _arity_ok(func.call, args):
            raise self._error(f"{func!r} called with arguments {_brief(args)}")
        self._push(func.call(self, *args))

    def _reconstruct(self, subtype: Any, shape: Any, typecode: Any) -> np.ndarray:
        # NumPy writes _reconstruct(ndarray, (0,), b'b') and then fills the array by BUILD with
        # bytes that are in the file; a bigger shape here would be an allocation the file
        # does not pay for, so only empty placeholders are made.
        if subtype is not _NDARRAY:
            raise self._error(f"refused an array of type {_brief(subtype)}, not numpy.ndarray")
        if not (isinstance(shape, tuple) and shape and all(_is_int(s) and s == 0
                                                            for s in shape)):
            raise self._error(f"refused a placeholder array of shape {_brief(shape)}")
        if not _one_of(typecode, ("b", b"b")):
            raise self._error(f"refused a placeholder array of type code {_brief(typecode)}")
        array = np.empty(shape, np.int8)
        self._unbuilt[id(array)] = array
        return array

    def _dtype(self, typestr: Any, align: Any = False, copy: Any = True) -> np.dtype:
        if not (isinstance(typestr, str) and _TYPESTR.fullmatch(typestr)
                and _is_flag(align) and _is_flag(copy)):
            raise self._error(f"refused dtype{_brief((typestr, align, copy))}: only numeric "
                              "dtypes")
        with self._numpy(f"dtype {typestr!r}"):
            dtype = np.dtype(typestr, align=bool(align), copy=True)  # never a shared instance
        if dtype.kind not in _NUMERIC_KINDS:
            raise self._error(f"refused dtype {typestr!r}: only numeric dtypes")
        self._dtypes[id(dtype)] = dtype
        self._unbuilt[id(dtype)] = dtype
        return dtype

    def _scalar(self, dtype: Any, raw: Any) -> Any:
        dtype = self._made_dtype(dtype)
        data = self._raw_bytes(raw)
        if len(data) != dtype.itemsize:
            raise self._error(f"a {dtype.name} scalar of {len(data)} bytes")
        return np.frombuffer(data, dtype)[0]

    def _frombuffer(self, buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
        # Protocol 5 (in-band): _frombuffer(bytearray, dtype, shape, order).
        if not isinstance(buffer, bytes | bytearray) or not _one_of(order, ("C", "F")):
            raise self._error("_frombuffer takes a bytes buffer and the order 'C' or 'F'")
        dtype = self._made_dtype(dtype)
        self._checked_size(shape, dtype, buffer, "_frombuffer's array")
        with self._numpy("_frombuffer's array"):
            return np.frombuffer(buffer, dtype).reshape(shape, order=order)

    def _encode(self, text: Any, encoding: Any) -> bytes:
        # Python 3 writes bytes as _codecs.encode(text, "latin1") in protocols 0 to 2.
        if not isinstance(text, str) or not _one_of(encoding, ("latin1", "latin-1")):
            raise self._error("_codecs.encode is allowed only as bytes written by Python 3: "
                              "a str and 'latin1'")
        self._charge(len(text))
        try:
            return text.encode("latin-1")
        except UnicodeEncodeError:
            raise self._error("_codecs.encode of characters beyond latin-1") from None

    def _container(self, kind: type, items: Any = ()) -> Any:
        # set, frozenset and bytearray as protocols 0 and 1 write them: kind(list or bytes)
        if kind is bytearray:
            if not isinstance(items, bytes):
                raise self._error("bytearray of something other than bytes")
            return bytearray(items)
        if not isinstance(items, list):
            raise self._error(f"{kind.__name__} of a {type(items).__name__}, not a list")
        return kind(self._key(v) for v in items)

    def _complex(self, real: Any = 0.0, imag: Any = 0.0) -> complex:
        if not all(isinstance(v, float | int) and _is_flat(v) for v in (real, imag)):
            raise self._error("complex of something other than two numbers")
        return complex(real, imag)

    # --- BUILD ---------------------------------------------------------------------------------
    def _build(self, _: Any) -> None:
        state = self._stack.pop()
        target = self._stack[-1]
        if self._unbuilt.pop(id(target), None) is not target:
            raise self._error(f"refused BUILD on {_brief(target)}: only a NumPy array or dtype "
                              "that this pickle has just made takes a state")
        if isinstance(target, np.dtype):
            self._build_dtype(target, state)
        else:
            self._build_array(target, state)

    def _build_dtype(self, dtype: np.dtype, state: Any) -> None:
        # NumPy's state of a numeric dtype: (3, byte order, None, None, None, -1, -1, 0),
        # version 4 adding metadata (None).
        if not (isinstance(state, tuple) and len(state) in (8, 9)
                and _is_int(state[0]) and state[0] in (3, 4)
                and _one_of(state[1], ("<", ">", "|", "="))
                and all(v is None for v in state[2:5])
                and all(_is_int(v) and v == want for v, want in zip(state[5:8], (-1, -1, 0)))
                and all(v is None for v in state[8:])):
            raise self._error(f"refused BUILD of dtype {dtype.name} with state "
                              f"{_brief(state)}: not the state NumPy writes for a numeric dtype")
        with self._numpy(f"the state of dtype {dtype.name}"):
            dtype.__setstate__(state[:8])

    def _build_array(self, array: np.ndarray, state: Any) -> None:
        # NumPy's state of an array: (1, shape, dtype, is_fortran, raw data), or without the
        # version in old pickles; the raw data is bytes, or latin-1 text in Python 2 pickles.
        if not isinstance(state, tuple) or len(state) not in (4, 5) or (
                len(state) == 5 and not (_is_int(state[0]) and state[0] == 1)):
            raise self._error("refused BUILD of an array with a state that is not "
                              "(1, shape, dtype, is_fortran, data)")
        shape, dtype, fortran, raw = state[-4:]
        dtype = self._made_dtype(dtype)
        if not _is_flag(fortran):
            raise self._error(f"an array's is_fortran flag {_brief(fortran)} is not a boolean")
        data = self._raw_bytes(raw)
        self._checked_size(shape, dtype, data, "the array")
        with self._numpy("the array's state"):
            array.__setstate__((1, shape, dtype, bool(fortran), data))

    @contextlib.contextmanager
    def _numpy(self, what: str) -> Iterator[None]:
        """NumPy's own refusal of arguments that passed the checks here, as a DatasetError."""
        try:
            yield
        except (TypeError, ValueError, OverflowError) as exc:
            raise self._error(f"NumPy refused {what} ({exc})") from None

    # --- argument checks -----------------------------------------------------------------------
    def _made_dtype(self, dtype: Any) -> np.dtype:
        if self._dtypes.get(id(dtype)) is not dtype:
            raise self._error(f"{_brief(dtype)} where a dtype made by this pickle belongs")
        return dtype

    def _raw_bytes(self, raw: Any) -> bytes | bytearray:
        if isinstance(raw, bytes | bytearray):
            return raw
        if isinstance(raw, str):  # Python 2's str, decoded as latin-1 like pickle.py does
            self._charge(len(raw))
            try:
                return raw.encode("latin-1")
            except UnicodeEncodeError:
                raise self._error("array data in text beyond latin-1") from None
        raise self._error(f"array data given as a {type(raw).__name__}, not bytes")

    def _checked_size(self, shape: Any, dtype: np.dtype, data: Any, what: str) -> int:
        if not (isinstance(shape, tuple) and len(shape) <= 32
                and all(_is_int(s) and 0 <= s < 1 << 48 for s in shape)):
            raise self._error(f"{what} has shape {_brief(shape)}, not a tuple of sizes")
        need = math.prod(shape) * dtype.itemsize
        if not isinstance(data, bytes | bytearray) or len(data) != need:
            have = len(data) if isinstance(data, bytes | bytearray) else "no"
            raise self._error(f"{what} of shape {shape} of {dtype.name} needs {need} bytes of "
                              f"data, the pickle gives {have}")
        return need


# --- the opcodes -------------------------------------------------------------------------------

def _constant(value: Any) -> Callable[[Interpreter, Any], None]:
    return lambda self, _: self._push(value)


def _from_mark(make: Callable[[list[Any]], Any]) -> Callable[[Interpreter, Any], None]:
    return lambda self, _: self._push(make(self._pop_mark()))


def _tuple_of(n: int) -> Callable[[Interpreter, Any], None]:
    def handler(self: Interpreter, _: Any) -> None:
        items = tuple(self._stack[-n:]) if len(self._stack) >= n else None
        if items is None:
            raise IndexError
        del self._stack[-n:]
        self._push(items)
    return handler


def _dict(self: Interpreter, _: Any) -> None:
    items = self._pop_mark()
    if len(items) % 2:
        raise self._error("DICT with an odd number of keys and values")
    self._push({self._key(items[i]): items[i + 1] for i in range(0, len(items), 2)})


def _setitems(self: Interpreter, _: Any) -> None:
    items = self._pop_mark()
    target = self._target(dict, "SETITEMS")
    if len(items) % 2:
        raise self._error("SETITEMS with an odd number of keys and values")
    for i in range(0, len(items), 2):
        target[self._key(items[i])] = items[i + 1]


def _setitem(self: Interpreter, _: Any) -> None:
    value, key = self._stack.pop(), self._stack.pop()
    self._target(dict, "SETITEM")[self._key(key)] = value


def _append(self: Interpreter, _: Any) -> None:
    value = self._stack.pop()
    self._target(list, "APPEND").append(value)


def _appends(self: Interpreter, _: Any) -> None:
    items = self._pop_mark()
    self._target(list, "APPENDS").extend(items)


def _additems(self: Interpreter, _: Any) -> None:
    items = self._pop_mark()
    self._target(set, "ADDITEMS").update(self._key(v) for v in items)


def _frozenset(self: Interpreter, _: Any) -> None:
    self._push(frozenset(self._key(v) for v in self._pop_mark()))


def _mark(self: Interpreter, _: Any) -> None:
    self._marks.append(self._stack)
    self._stack = []


def _pop(self: Interpreter, _: Any) -> None:
    if self._stack:
        self._stack.pop()
    else:
        self._pop_mark()


def _put(self: Interpreter, index: Any) -> None:
    self._memo[index] = self._stack[-1]


def _memoize(self: Interpreter, _: Any) -> None:
    self._memo[len(self._memo)] = self._stack[-1]


def _get(self: Interpreter, index: Any) -> None:
    if index not in self._memo:
        raise self._error(f"memo entry {index} is read before it is written")
    self._push(self._memo[index])


def _proto(self: Interpreter, version: Any) -> None:
    if not 0 <= version <= 5:
        raise self._error(f"pickle protocol {version} is not supported (0 to 5)")


def _global_op(self: Interpreter, arg: Any) -> None:
    module, _, name = arg.partition(" ")
    self._push(self._global(module, name))


def _stack_global(self: Interpreter, _: Any) -> None:
    name, module = self._stack.pop(), self._stack.pop()
    self._push(self._global(module, name))


_HANDLERS: dict[str, Callable[[Interpreter, Any], None]] = {
    **{name: (lambda self, arg: self._push(arg)) for name in (
        "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
        "STRING", "BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8",
        "BYTEARRAY8", "UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8")},
    "NONE": _constant(None), "NEWTRUE": _constant(True), "NEWFALSE": _constant(False),
    "EMPTY_LIST": lambda self, _: self._push([]),
    "EMPTY_TUPLE": _constant(()),
    "EMPTY_DICT": lambda self, _: self._push({}),
    "EMPTY_SET": lambda self, _: self._push(set()),
    "LIST": _from_mark(list), "TUPLE": _from_mark(tuple),
    "TUPLE1": _tuple_of(1), "TUPLE2": _tuple_of(2), "TUPLE3": _tuple_of(3),
    "DICT": _dict, "SETITEM": _setitem, "SETITEMS": _setitems,
    "APPEND": _append, "APPENDS": _appends, "ADDITEMS": _additems, "FROZENSET": _frozenset,
    "MARK": _mark, "POP": _pop, "POP_MARK": lambda self, _: self._pop_mark(),
    "DUP": lambda self, _: self._push(self._stack[-1]),
    "PUT": _put, "BINPUT": _put, "LONG_BINPUT": _put, "MEMOIZE": _memoize,
    "GET": _get, "BINGET": _get, "LONG_BINGET": _get,
    "PROTO": _proto, "FRAME": lambda self, _: None,
    "GLOBAL": _global_op, "STACK_GLOBAL": _stack_global,
    "REDUCE": Interpreter._reduce, "BUILD": Interpreter._build,
}

# Not callable: NumPy passes the class to _reconstruct, never calls it (calling it would let a
# pickle allocate an array of any size it names, ndarray((10**12,))).
_NDARRAY = _Global("numpy.ndarray", None)
_GLOBALS: dict[tuple[str, str], _Global] = {("numpy", "ndarray"): _NDARRAY}
for _module, _name, _call in (
        ("numpy.core.multiarray", "_reconstruct", Interpreter._reconstruct),
        ("numpy._core.multiarray", "_reconstruct", Interpreter._reconstruct),
        ("numpy.core.multiarray", "scalar", Interpreter._scalar),
        ("numpy._core.multiarray", "scalar", Interpreter._scalar),
        ("numpy.core.numeric", "_frombuffer", Interpreter._frombuffer),
        ("numpy._core.numeric", "_frombuffer", Interpreter._frombuffer),
        ("numpy", "dtype", Interpreter._dtype),
        ("_codecs", "encode", Interpreter._encode),
        *((m, "bytes", lambda self: b"") for m in ("builtins", "__builtin__")),
        *((m, "complex", Interpreter._complex) for m in ("builtins", "__builtin__")),
        *((m, "set", lambda self, items=(): self._container(set, items))
          for m in ("builtins", "__builtin__")),
        *((m, "frozenset", lambda self, items=(): self._container(frozenset, items))
          for m in ("builtins", "__builtin__")),
        *((m, "bytearray", lambda self, items=b"": self._container(bytearray, items))
          for m in ("builtins", "__builtin__"))):
    _GLOBALS[(_module, _name)] = _Global(f"{_module}.{_name}", _call)


# --- parsing -----------------------------------------------------------------------------------

class _Reader:
    """The file interface `pickletools`' argument readers use, over a buffer (no copy of it)."""

    def __init__(self, data: bytes | bytearray):
        self._data, self._view, self.pos = data, memoryview(data), 0

    def read(self, n: int) -> bytes:
        chunk = self._view[self.pos:self.pos + max(n, 0)].tobytes()
        self.pos += len(chunk)
        return chunk

    def readline(self) -> bytes:
        end = self._data.find(b"\n", self.pos)
        return self.read((len(self._data) if end < 0 else end + 1) - self.pos)


def _read_arg(op: pickletools.OpcodeInfo, reader: _Reader) -> Any:
    if op.arg is None:
        return None
    if op.name == "STRING":
        # Python 2's str in protocol 0: pickletools decodes it as ASCII, pickle.py (with
        # encoding="latin1", as here) as latin-1, which array data needs.
        raw = pickletools.read_stringnl(reader, decode=False)
        return codecs.escape_decode(raw)[0].decode("latin-1")  # type: ignore[attr-defined]
    return op.arg.reader(reader)


def _payload(arg: Any) -> int:
    """The memory an opcode's argument takes (sys.getsizeof is O(1) for these types)."""
    return sys.getsizeof(arg) if isinstance(arg, str | bytes | bytearray | int) else 0


def _one_of(value: Any, options: Any) -> bool:
    """`value in options` for strings, without comparing arrays (whose == does not say)."""
    return isinstance(value, str | bytes) and value in options


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_flag(value: Any) -> bool:
    return isinstance(value, bool) or (isinstance(value, int) and value in (0, 1))


def _is_flat(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length() <= 64
    return value is None or isinstance(value, bool | float | str | bytes)


def _brief(value: Any, depth: int = 0) -> str:
    """A short description of a value from the pickle, safe on any: no deep recursion, no
    huge text (a repr could be either)."""
    if isinstance(value, str | bytes):
        return repr(value[:40]) + ("..." if len(value) > 40 else "")
    if _is_flat(value):
        return repr(value)
    if isinstance(value, _Global):
        return value.name
    if isinstance(value, int):
        return f"an int of {value.bit_length()} bits"
    if isinstance(value, tuple) and depth == 0 and len(value) <= 8:
        inner = ", ".join(_brief(v, 1) for v in value)
        return f"({inner}{',' if len(value) == 1 else ''})"
    if isinstance(value, np.dtype):
        return f"dtype {value.name}"
    return f"a {type(value).__name__}"


def _arity_ok(call: Callable[..., Any], args: tuple) -> bool:
    code = call.__code__
    total = code.co_argcount - 1  # without self
    required = total - len(call.__defaults__ or ())
    return required <= len(args) <= total


__all__ = ["Interpreter"]
