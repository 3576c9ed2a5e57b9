"""The indexing family (kernels/indexing.cl): its planners live in backend/indexing.py."""

from __future__ import annotations

from nodestudio.backend.indexing import PLANNERS
from nodestudio.backend.launch import Plan
from nodestudio.backend.planners.common import FamilyNode


def plan(node: FamilyNode) -> Plan:
    return PLANNERS[node.op](node)
