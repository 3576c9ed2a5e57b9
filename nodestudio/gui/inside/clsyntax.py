"""Syntax highlighting of OpenCL C for the Kernels panel (a QSyntaxHighlighter: no new
dependency; the kernels are short and generated, so a few regular expressions do)."""

from __future__ import annotations

from PySide6.QtCore import QRegularExpression
from PySide6.QtGui import QColor, QFont, QSyntaxHighlighter, QTextCharFormat, QTextDocument

KEYWORDS = (
    "__kernel kernel __global global __local local __constant constant __private private "
    "const restrict volatile inline static if else for while do return break continue switch "
    "case default sizeof typedef struct union enum"
).split()
TYPES = (
    "void bool char uchar short ushort int uint long ulong float double half size_t "
    "ptrdiff_t float2 float4 float8 float16 int2 int4 uint2 uint4"
).split()
BUILTINS = (
    "get_global_id get_local_id get_group_id get_global_size get_local_size get_num_groups "
    "barrier mem_fence CLK_LOCAL_MEM_FENCE CLK_GLOBAL_MEM_FENCE exp log sqrt rsqrt tanh fabs "
    "fmax fmin max min pow native_exp native_log mad fma select isnan isinf floor ceil "
    "INFINITY NAN"
).split()

# (pattern, colour, bold): later rules win where they overlap, comments last
RULES = (
    (r"\b(" + "|".join(KEYWORDS) + r")\b", "#c678dd", True),
    (r"\b(" + "|".join(TYPES) + r")\b", "#4fa3d8", False),
    (r"\b(" + "|".join(BUILTINS) + r")\b", "#d19a4a", False),
    (r"\b[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?[fFuU]?\b", "#5fae6e", False),
    (r"^\s*#\s*\w+.*$", "#a0a070", False),  # preprocessor lines
    (r"//[^\n]*", "#808890", False),
)


def _format(colour: str, bold: bool) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setForeground(QColor(colour))
    if bold:
        fmt.setFontWeight(QFont.Weight.Bold)
    return fmt


class OpenCLHighlighter(QSyntaxHighlighter):
    """Keywords, types, built-in functions, numbers, preprocessor lines and comments (line
    and block) of OpenCL C."""

    def __init__(self, document: QTextDocument):
        super().__init__(document)
        self.rules = [(QRegularExpression(p), _format(c, b)) for p, c, b in RULES]
        self.comment = _format("#808890", False)
        self.start, self.end = QRegularExpression(r"/\*"), QRegularExpression(r"\*/")

    def highlightBlock(self, text: str) -> None:  # noqa: N802  (Qt's name)
        for pattern, fmt in self.rules:
            matches = pattern.globalMatch(text)
            while matches.hasNext():
                match = matches.next()
                self.setFormat(match.capturedStart(), match.capturedLength(), fmt)
        # block comments may span lines: the block state says whether one is open
        self.setCurrentBlockState(0)
        start = 0 if self.previousBlockState() == 1 else text.find("/*")
        while start >= 0:
            end_match = self.end.match(text, start + (0 if self.previousBlockState() == 1
                                                      and start == 0 else 2))
            if end_match.hasMatch():
                length = end_match.capturedEnd() - start
            else:
                self.setCurrentBlockState(1)
                length = len(text) - start
            self.setFormat(start, length, self.comment)
            start = text.find("/*", start + length)


__all__ = ["OpenCLHighlighter"]
