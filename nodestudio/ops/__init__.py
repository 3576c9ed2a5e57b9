"""The op registry: one definition per op, read by the palette, inspector, compiler and tests."""

from nodestudio.ops.registry import AttrDef, OpDef, PortDef, TensorType, all_ops, get

__all__ = ["AttrDef", "OpDef", "PortDef", "TensorType", "all_ops", "get"]
