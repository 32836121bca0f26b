#!/usr/bin/env python3
"""Generates DirectBlocks.swift: the register-blocked micro-kernels of direct-simd.

Swift cannot index registers, so each block width W (output pixels held in W zmm accumulators) is its own
fully unrolled function. Regenerate after editing with: bash Sources/generate.sh (CI checks the committed file)
"""

MAX_WIDTH = 16
SIGNATURE = ("_ src: UnsafePointer<Float>, _ filter: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,\n"
             "                  rows: Int, cols: Int, s: Int, tapStride: Int, rowStride: Int, filterStride: Int, bias: SIMD16<Float>")
ARGS = "src, filter, dst, rows: rows, cols: cols, s: s, tapStride: tapStride, rowStride: rowStride, filterStride: filterStride, bias: bias"

TAP_STATIONARY = """// Register-blocked direct-convolution micro-kernels for the NCHW16c layout.
//
// `directBlockW` computes W adjacent output pixels × 16 channels in W `zmm` accumulators: for each of the
// `rows`×`cols` taps it loads the tap's 16 weights once and issues W FMAs whose input operand comes from
// memory. `src` points at the first tap's input pixel in a zero-padded strip whose rows are `rowStride`
// floats apart and consecutive taps of a row `tapStride` floats apart (16, or 16·d with dilation d); pixel i
// reads `src + i·16·s`. `filter` points at the first tap; filter rows are `filterStride` floats apart (the caller skips taps that only ever meet zero padding). Accumulation
// order per output (bias, then taps row by row) is the same for every width.
"""

INPUT_STATIONARY = """// Input-stationary variants: `directInputBlockW` walks the input pixels the block's outputs can see
// inside the image, loads each once into a register and issues W FMAs whose weight operand comes from
// memory: pixel x meets output r through tap x − r·s, so `filter` points into a weight row padded with
// zeros on both sides and output r reads it `r·16·s` floats to the left. Where a large kernel overhangs a
// small map (K = 27 on 14×14) this visits only the taps that meet real input, about half of them.
"""


def block(name, w, input_stationary):
    """One fully unrolled block of width w. Tap-stationary: the weight is the register, inputs come from
    memory at +i·d. Input-stationary: the input is the register, weights come from memory at −i·d."""
    body = [f"@inline(__always)\nfunc {name}{w}({SIGNATURE}) {{",
            "    var " + ", ".join(f"a{i} = bias" for i in range(w))]
    if w > 1:
        body.append("    let d = 16 * s")
    held = "let v = x.load16()" if input_stationary else "let wv = f.load16()"
    body.append("    var row = src\n    var fRow = filter\n    for _ in 0..<rows {\n        var x = row\n        var f = fRow\n"
                f"        for _ in 0..<cols {{\n            {held}")
    for i in range(w):
        step = "0" if i == 0 else ("d" if i == 1 else f"{i} * d")
        if input_stationary:
            body.append(f"            a{i}.addProduct(v, f.load16({'0' if i == 0 else '-' + step}))")
        else:
            body.append(f"            a{i}.addProduct(x.load16({step}), wv)")
    body.append("            x += tapStride\n            f += 16\n        }\n        row += rowStride\n        fRow += filterStride\n    }")
    body += [f"    dst.store16(a{i}, {16 * i})" for i in range(w)]
    body.append("}\n")
    return "\n".join(body)


def dispatcher(name, doc):
    pad = " " * (len(name) + 6)
    lines = [f"/// {doc} (1...{MAX_WIDTH}).", "@inline(__always)",
             f"func {name}(width: Int, {SIGNATURE.replace(chr(10) + ' ' * 18, chr(10) + pad)}) {{", "    switch width {"]
    lines += [f"    case {w}: {name}{w}({ARGS})" for w in range(1, MAX_WIDTH + 1)]
    lines += [f'    default: preconditionFailure("direct-simd block width \\(width) is outside 1...{MAX_WIDTH}")', "    }", "}", ""]
    return "\n".join(lines)


MULTI_ROW = """// Multi-row variants (stride 1): `directBlockR{R}W` computes W pixels of output rows oy … oy + R − 1 in
// R·W accumulators. It walks the strip rows j the rows read; each loaded input vector feeds every row,
// row oy + r through kernel row j − r of a kernel padded with R − 1 zero rows above and below (`filter`
// points at row oy's tap; row oy + r's is r·`filterStride` before it). Per tap: R weight loads and W
// input loads for R·W FMAs, against 1 + W for W.
"""
SIGNATURE2 = ("_ src: UnsafePointer<Float>, _ filter: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,\n"
              "                  outStride: Int, rows: Int, cols: Int, rowStride: Int, filterStride: Int, bias: SIMD16<Float>")
ARGS2 = "src, filter, dst, outStride: outStride, rows: rows, cols: cols, rowStride: rowStride, filterStride: filterStride, bias: bias"
MULTI_ROWS = [2]  # 3 rows (24 accumulators) measured no faster than 2: register pressure
MAX_WIDTH2 = 8


def multi_row_block(r_count, w):
    body = [f"@inline(__always)\nfunc directBlockR{r_count}W{w}({SIGNATURE2}) {{"]
    for r in range(r_count):
        body.append("    var " + ", ".join(f"a{r}_{i} = bias" for i in range(w)))
    body.append("    var row = src\n    var fRow = filter\n    for _ in 0..<rows {\n        var x = row\n        var f = fRow\n"
                "        for _ in 0..<cols {")
    for r in range(r_count):
        body.append(f"            let w{r} = f.load16({'0' if r == 0 else f'-{r} * filterStride'})")
    for i in range(w):
        body.append(f"            let x{i} = x.load16({16 * i})")
        for r in range(r_count):
            body.append(f"            a{r}_{i}.addProduct(x{i}, w{r})")
    body.append("            x += 16\n            f += 16\n        }\n        row += rowStride\n        fRow += filterStride\n    }")
    for r in range(r_count):
        body += [f"    dst.store16(a{r}_{i}, {'' if r == 0 else f'{r} * outStride + '}{16 * i})" for i in range(w)]
    body.append("}\n")
    return "\n".join(body)


out = ["// Generated by DirectBlocks.py — do not edit by hand.\n"]
for name, doc, comment, inverted in [("directBlock", "Dispatches to the block of width `width`", TAP_STATIONARY, False),
                                     ("directInputBlock", "Dispatches to the input-stationary block of width `width`",
                                      INPUT_STATIONARY, True)]:
    out.append(comment)
    out += [block(name, w, inverted) for w in range(1, MAX_WIDTH + 1)]
    out.append(dispatcher(name, doc))
out.append(MULTI_ROW)
for r_count in MULTI_ROWS:
    out += [multi_row_block(r_count, w) for w in range(1, MAX_WIDTH2 + 1)]
out += [f"/// Dispatches to the `outputRows`-row block of width `width` (rows {MULTI_ROWS}, width 1...{MAX_WIDTH2}).",
        "@inline(__always)",
        f"func directBlockMultiRow(outputRows blockRows: Int, width: Int, {SIGNATURE2.replace(chr(10) + ' ' * 18, chr(10) + ' ' * 26)}) {{",
        "    switch (blockRows, width) {"]
for r_count in MULTI_ROWS:
    out += [f"    case ({r_count}, {w}): directBlockR{r_count}W{w}({ARGS2})" for w in range(1, MAX_WIDTH2 + 1)]
out += [f'    default: preconditionFailure("direct-simd block of \\(blockRows) rows × \\(width) is not generated")', "    }", "}"]
print("\n".join(out))
