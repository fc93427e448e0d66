"""The mutations `python -m tests.mutation` applies, one at a time (see tests/mutation.py).

Each: a name, the repository file, the exact old text (must occur once), the new text, the
tests to run (pytest selections, cheapest that should notice), and why the bug matters. A
mutation that cannot change behaviour carries `equivalent=` with the reason instead. When
code moves, update `old` here: the check reports a missing text as STALE.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    why: str = ""
    equivalent: str = ""  # why it cannot change behaviour (expected to survive)


KERNEL = "tests/test_kernel_extremes.py"
CYCLES = "tests/test_cycles.py"
GOLDEN = "tests/test_quantize_golden.py"
QUANT = "tests/test_quantize.py"
CORRUPT_FRAME = "tests/test_firmware.py::test_firmware_rejects_a_corrupted_frame_and_recovers"
STREAM = "tests/test_firmware.py::test_stream_mode_on_a_chip_with_256_bytes_of_ram_and_no_xram"

# Certain bugs, one in Python and one in a template: if the tests do not notice them, the
# tests are not running the mutated copy and the check stops.
CANARIES = [
    Mutation("canary-python", "quantize/ops.py", "return logits.argmax(axis=1)", "return logits.argmin(axis=1)",
             (QUANT + "::test_argmax_first_maximum_wins",)),
    Mutation("canary-template", "codegen/templates/ops.inc.j2", "if (logits[j] > logits[best])",
             "if (logits[j] < logits[best])", (KERNEL,)),
]

MUTATIONS = [
    # --- the ten survivors of issue 13 ---
    Mutation("asm-no-carry-into-byte-3", "codegen/templates/kernel_asm.inc.j2",
             "        inc     r5\n", "        nop\n", (KERNEL,),
             "the asm sum never carries into its top byte: all-255 images give wrong logits"),
    Mutation("c-argmax-last-max-wins", "codegen/templates/ops.inc.j2",
             "if (logits[j] > logits[best])", "if (logits[j] >= logits[best])", (KERNEL,),
             "tied logits: the chip picks the last maximum, the simulator the first"),
    Mutation("crc-wrong-for-0x41", "firmware/protocol.py",
             "        crc ^= byte << 8\n", "        crc ^= (byte ^ (byte == 0x41)) << 8\n", ("tests/test_crc.py",),
             "CRC wrong for one byte value: lines and frames with an 'A' fail or pass wrongly"),
    Mutation("bias-clipped-to-int16", "quantize/quantizer.py",
             "bias = bias64.astype(np.int32)", "bias = np.clip(bias64, -32768, 32767).astype(np.int32)", (GOLDEN,),
             "biases beyond int16 silently clipped"),
    Mutation("bias-rounding-term-dropped", "quantize/quantizer.py",
             "bias64 = _round(b / (s_in * s_w)).astype(np.int64) + rounding",
             "bias64 = _round(b / (s_in * s_w)).astype(np.int64)", (GOLDEN,),
             "requantization truncates instead of rounding half up"),
    Mutation("qat-weights-not-fake-quantized", "quantize/qat.py",
             "        return np.clip(_round(W / s_w), -127, 127) * s_w\n", "        return W\n", (GOLDEN,),
             "QAT trains on float weights: no quantization awareness at all"),
    Mutation("augmentation-bypassed", "trainer/train.py",
             "xb = inputs(shift_images(x_u8[idx], cfg.augment, rng), cfg.pool)", "xb = inputs(x_u8[idx], cfg.pool)",
             ("tests/test_augment.py",), "--augment does nothing"),
    Mutation("compare-ignores-logits", "firmware/run.py",
             "        if p.logits != want:\n", "        if False:\n", ("tests/test_compare.py",),
             "the bit-exactness check passes any logits with the right argmax"),
    Mutation("cycles-drop-timer0-overflows", "codegen/templates/runtime.c.j2",
             "return ((uint32_t)t0_overflows << 16) | ((uint16_t)TH0 << 8) | TL0;",
             "return ((uint16_t)TH0 << 8) | TL0;", (CYCLES,),
             "cycle counts wrap at 65536"),
    Mutation("serve-counts-uart-waits", "codegen/templates/main_serve.c.j2",
             "                pool_push(b);\n                cycles_pause();\n", "                pool_push(b);\n", (CYCLES,),
             "serve-mode cycles include the time spent waiting for the UART"),
    # --- templates: asm kernel ---
    Mutation("asm-no-carry-into-byte-2", "codegen/templates/kernel_asm.inc.j2",
             "        inc     r4\n", "        nop\n", (KERNEL,), "carries into byte 2 of the asm sum lost"),
    Mutation("asm-addc-without-carry", "codegen/templates/kernel_asm.inc.j2",
             "        addc    a, r3\n", "        add     a, r3\n", (KERNEL,), "carry from byte 0 into byte 1 lost"),
    Mutation("asm-offset-times-64", "codegen/templates/kernel_asm.inc.j2",
             "x_offset <<= 7;", "x_offset <<= 6;", (KERNEL,), "offset trick subtracts 64 * sum(x) instead of 128"),
    # --- templates: C kernel, ops, pooling, stream, serve, runtime ---
    Mutation("c-kernel-product-truncated", "codegen/templates/kernel_c.inc.j2",
             "acc += *w++ * *x++;", "acc += (int8_t)(*w++ * *x++);", (KERNEL,), "C kernel keeps 8 bits of each product"),
    Mutation("c-relu-no-saturation", "codegen/templates/ops.inc.j2",
             "return acc > 255 ? 255 : (uint8_t)acc;", "return (uint8_t)acc;", (KERNEL,),
             "activations above 255 wrap instead of saturating"),
    Mutation("c-relu-lt-instead-of-le", "codegen/templates/ops.inc.j2",
             "    if (acc <= 0)\n", "    if (acc < 0)\n", (KERNEL,),
             equivalent="acc == 0 then takes the other branch: 0 >> shift = 0 and min(0, 255) = 0, the same result"),
    Mutation("c-pool-rounding-dropped", "codegen/templates/pool.inc.j2",
             "(pool_sum[c] + POOL_HALF)", "(pool_sum[c])", ("tests/test_pool_firmware.py",),
             "firmware pooling truncates, the spec rounds"),
    Mutation("stream-fold-step-le", "codegen/templates/infer_stream.c.j2",
             "fold_j + FOLD_STEP < L0_OUT ?", "fold_j + FOLD_STEP <= L0_OUT ?", (STREAM,),
             equivalent="when fold_j + FOLD_STEP == L0_OUT both branches of the ?: give L0_OUT"),
    Mutation("serve-accepts-bad-crc", "codegen/templates/main_serve.c.j2",
             "if (crc != 0 || (kind", "if ((kind", (CORRUPT_FRAME,), "corrupted frames are classified"),
    Mutation("firmware-crc-poly", "codegen/templates/runtime.c.j2",
             "(uint16_t)((crc << 1) ^ CRC_POLY)", "(uint16_t)((crc << 1) ^ 0x1201)", (KERNEL,),
             "firmware CRC differs from the host's"),
    Mutation("timer0-isr-counts-nothing", "codegen/templates/runtime.c.j2",
             "    t0_overflows++;\n", "    ;\n", (CYCLES,), "Timer 0 overflows not counted"),
    Mutation("int32-min-literal", "codegen/render.py",
             'return f"({v + 1}L - 1)" if v == -(2**31) else f"{v}L"', 'return f"{v}L"', (KERNEL,),
             equivalent="for SDCC 4.2 --std-c11: 2147483648L becomes a wider type, its negation is exactly INT32_MIN "
                        "(measured: warning-free, and row 9 of the extremes model, bias INT32_MIN, stays bit-exact); "
                        "the (v+1)L - 1 form keeps the literal within long on any C compiler"),
    # --- quantizer ---
    Mutation("quantizer-percentile-is-max", "quantize/quantizer.py",
             "top = float(np.percentile(a, cfg.percentile))", "top = float(a.max())", (GOLDEN,),
             "--percentile ignored"),
    Mutation("quantizer-shift-ceil", "quantize/quantizer.py",
             "sh = np.floor(np.log2(", "sh = np.ceil(np.log2(", (GOLDEN,), "weights overflow int8 and clip"),
    Mutation("quantizer-weight-clip-128", "quantize/quantizer.py",
             "q = np.clip(q, -127, 127).astype(np.int8)", "q = np.clip(q, -128, 127).astype(np.int8)", (GOLDEN,),
             "-128 weights break the symmetric range the asm offset and the file check assume"),
    Mutation("quantizer-round-half-even", "quantize/quantizer.py",
             "np.sign(x) * np.floor(np.abs(x) + 0.5)", "np.round(x)", (GOLDEN,),
             "half-even rounding where the doc says half away from zero"),
    Mutation("acc-bound-without-abs", "quantize/quantizer.py",
             "x_max * np.abs(w.astype(np.int64)).sum(axis=1)", "x_max * w.astype(np.int64).sum(axis=1)",
             (QUANT + "::test_accumulator_bound_is_the_worst_case",), "overflow proof misses negative weights"),
    Mutation("qat-activations-truncated", "quantize/qat.py",
             "np.floor(h / s + 0.5)", "np.floor(h / s)", (GOLDEN,), "QAT activations round down, the firmware rounds half up"),
    # --- simulator ops and preprocessing ---
    Mutation("sim-relu-wraps", "quantize/ops.py",
             "return np.minimum(pos, 255).astype(np.uint8)", "return (pos & 0xFF).astype(np.uint8)", (QUANT,),
             "simulator activations wrap instead of saturating"),
    Mutation("sim-argmax-last", "quantize/ops.py",
             "return logits.argmax(axis=1)", "return logits.shape[1] - 1 - logits[:, ::-1].argmax(axis=1)", (QUANT,),
             "simulator tie rule: last maximum"),
    Mutation("sim-dense-astype-wrap", "quantize/ops.py",
             "    return wrap_i32(acc)\n", "    return acc.astype(np.int32)\n", (QUANT, KERNEL),
             equivalent="numpy's int64 -> int32 astype keeps the low 32 bits, the same two's-complement wrap"),
    Mutation("sim-relu-on-logits", "quantize/simulate.py",
             "x = acc if layer == last else ops.relu_requant(acc, model.shifts[layer])",
             "x = acc if layer == 0 else ops.relu_requant(acc, model.shifts[layer])", (QUANT,),
             "layers after the first lose their requantization"),
    Mutation("pool-rounding-dropped", "trainer/preprocess.py",
             "((sums + (1 << (shift - 1))) >> shift)", "((sums) >> shift)", ("tests/test_trainer.py::test_pool_is_rounded_half_up_block_mean",),
             "pooling truncates"),
    Mutation("shift-always-zero", "trainer/train.py",
             "dy, dx = rng.integers(-s, s + 1, size=(2, n))", "dy, dx = 0 * rng.integers(-s, s + 1, size=(2, n))",
             ("tests/test_augment.py",), "augmentation moves nothing"),
    # --- protocol and monitor ---
    Mutation("line-crc-ignored", "firmware/protocol.py",
             'if crc16(m["body"].encode()) != int(m["crc"], 16):', "if False:",
             ("tests/test_protocol.py::test_corrupted_lines_are_never_results",), "corrupted lines become results"),
    Mutation("cut-off-line-not-reported", "firmware/protocol.py",
             "len(printable) > 3", "len(printable) > 40",
             ("tests/test_protocol.py::test_disconnect_mid_line_is_reported",), "a line cut off by a disconnect is lost silently"),
    Mutation("monitor-ignores-frame-errors", "firmware/monitor.py",
             "return 1 if tally.corrupt or tally.frame_errors else 0", "return 1 if tally.corrupt else 0",
             ("tests/test_monitor_send.py",), "monitor --send exits 0 although the board rejected frames"),
    Mutation("monitor-scores-every-digit", "firmware/monitor.py",
             "self.correct += rec.digit == label", "self.correct += 1",
             ("tests/test_protocol.py::test_tally_counts_only_valid_predictions",), "monitor accuracy always 100 %"),
    # --- build checks and frontier ---
    Mutation("fit-code-budget-off-by-4k", "firmware/build.py",
             "if need.code > target.code:", "if need.code > target.code + 4096:", ("tests/test_fit_budget.py",),
             "models 4 KB too big pass the check and fail in the linker"),
    Mutation("fit-iram-ignores-stack", "firmware/build.py",
             "if need.iram + STACK_MIN > target.iram:", "if need.iram > target.iram:", ("tests/test_fit_budget.py",),
             "no room left for the stack: the firmware hangs"),
    Mutation("frontier-picks-least-accurate", "firmware/frontier.py",
             'max(ok, key=lambda r: (r["int_accuracy"], -r["cycles"]), default=None)',
             'min(ok, key=lambda r: (r["int_accuracy"], -r["cycles"]), default=None)',
             ("tests/test_frontier.py::test_rule_is_applied_as_stated",), "default model rule inverted"),
]
