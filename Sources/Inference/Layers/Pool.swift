import CKernels
/// MaxPool / AveragePool (2-D, pads, strides, ceil_mode, auto_pad, count_include_pad)
/// and GlobalAveragePool / GlobalMaxPool.
final class PoolLayer: Layer {
    let name: String
    private let scratch = Scratch()
    let isMax: Bool
    let global: Bool
    var kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1
    var pads = [0, 0, 0, 0]
    var ceilMode = false
    var countIncludePad = false
    var autoPad = "NOTSET"

    init(_ ctx: NodeContext) throws {
        name = ctx.name
        try ctx.requireInputs(1)
        isMax = ctx.op == "MaxPool" || ctx.op == "GlobalMaxPool"
        global = ctx.op.hasPrefix("Global")
        if global { return }
        if ctx.outputs.count > 1 && !ctx.outputs[1].isEmpty {
            throw InferenceError.unsupportedAttribute(node: ctx.name, op: ctx.op, detail: "Indices output")
        }
        guard let k = try ctx.ints("kernel_shape"), k.count == 2, k.allSatisfy({ $0 >= 1 }) else {
            throw ctx.shapeError("kernel_shape must have 2 positive values (only 2-D pooling is supported)")
        }
        kh = k[0]; kw = k[1]
        let s = try ctx.ints("strides") ?? [1, 1]
        let p = try ctx.ints("pads") ?? [0, 0, 0, 0]
        let d = try ctx.ints("dilations") ?? [1, 1]
        guard s.count == 2, p.count == 4, d.count == 2, s.allSatisfy({ $0 >= 1 }), d.allSatisfy({ $0 >= 1 }), p.allSatisfy({ $0 >= 0 }) else {
            throw ctx.shapeError("strides/pads/dilations must describe 2 spatial dims")
        }
        guard (s + d + p + k).allSatisfy({ $0 <= LayerLimits.maxWindow }) else {
            throw InferenceError.tooLarge(what: "\(ctx.op) '\(ctx.name)' kernel/stride/dilation/pad", elements: (s + d + p + k).max()!, limit: LayerLimits.maxWindow)
        }
        sh = s[0]; sw = s[1]; dh = d[0]; dw = d[1]; pads = p
        ceilMode = try ctx.int("ceil_mode", default: 0) != 0
        countIncludePad = try ctx.int("count_include_pad", default: 0) != 0
        autoPad = try ctx.string("auto_pad", default: "NOTSET")
        guard ["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"].contains(autoPad) else { throw ctx.attrError("auto_pad", "unknown value \(autoPad)") }
        guard kh > p[0], kh > p[2], kw > p[1], kw > p[3] else { throw ctx.shapeError("pads must be smaller than the kernel") }
    }

    /// The ubiquitous 2×2/2 max pool over one plane (row stride `w`), no bounds checks:
    /// the caller guarantees 2·oh and 2·ow fit in the plane.
    static func maxPool2x2(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, w: Int, oh: Int, ow: Int) {
        for oy in 0..<oh {
            let r0 = src + 2 * oy * w, r1 = r0 + w
            let d = dst + oy * ow
            for ox in 0..<ow { d[ox] = max(max(r0[2 * ox], r0[2 * ox + 1]), max(r1[2 * ox], r1[2 * ox + 1])) }
        }
    }

    /// MaxPool 2×2, stride 2, no padding/dilation, floor rounding: foldable into a Winograd conv.
    var isPlainMax2x2: Bool {
        isMax && !global && kh == 2 && kw == 2 && sh == 2 && sw == 2 && dh == 1 && dw == 1 && pads.allSatisfy { $0 == 0 }
            && !ceilMode && (autoPad == "NOTSET" || autoPad == "VALID")
    }

    /// Max pool on the SIMD kernel (Sources/CKernels/depthwise.c); the loop in `forward` is the
    /// plain reference it is tested against (level none).
    private func fastMaxPool(_ level: Kernels.Level, _ x: Tensor, into out: inout Tensor, planes: Int, h: Int, w: Int,
                             oh: Int, ow: Int, pads p: [Int]) {
        let g = (Int32(kh), Int32(kw), Int32(sh), Int32(sw), Int32(dh), Int32(dw))
        let lease = scratch.lease(emo_dw_workspace(g.0, g.1, g.2, g.3, g.4, g.5, Int32(oh), Int32(ow)))
        defer { scratch.giveBack(lease) }
        x.data.withUnsafeBufferPointer { xb in
            out.data.withUnsafeMutableBufferPointer { ob in
                let rc = emo_maxpool(level.rawValue, xb.baseAddress!, Int32(planes), Int32(h), Int32(w), g.0, g.1, g.2,
                                     g.3, g.4, g.5, Int32(p[0]), Int32(p[1]), Int32(oh), Int32(ow), ob.baseAddress!,
                                     lease.pointer)
                precondition(rc == 0, "emo_maxpool rejected level \(level.name)")
            }
        }
    }

    private func effectivePads(h: Int, w: Int) -> [Int] {
        switch autoPad {
        case "VALID": return [0, 0, 0, 0]
        case "SAME_UPPER", "SAME_LOWER":
            func total(_ n: Int, _ s: Int, _ k: Int, _ d: Int) -> Int { max(0, ((n + s - 1) / s - 1) * s + (k - 1) * d + 1 - n) }
            let th = total(h, sh, kh, dh), tw = total(w, sw, kw, dw)
            return autoPad == "SAME_UPPER" ? [th / 2, tw / 2, th - th / 2, tw - tw / 2] : [th - th / 2, tw - tw / 2, th / 2, tw / 2]
        default: return pads
        }
    }

    private func outSize(_ n: Int, _ k: Int, _ s: Int, _ d: Int, _ p0: Int, _ p1: Int) -> Int {
        let span = n + p0 + p1 - ((k - 1) * d + 1)
        if span < 0 { return 0 }
        var o = (ceilMode ? (span + s - 1) / s : span / s) + 1
        // The last window must start inside the input or the leading padding (PyTorch/ONNX rule).
        if ceilMode && (o - 1) * s >= n + p0 { o -= 1 }
        return o
    }

    func outputShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        let x = inputs[0]
        guard x.count == 4 else { throw InferenceError.shapeMismatch(node: name, detail: "pooling input must be rank 4 (NCHW), got \(x)") }
        if global { return [[x[0], x[1], 1, 1]] }
        let p = effectivePads(h: x[2], w: x[3])
        let oh = outSize(x[2], kh, sh, dh, p[0], p[2]), ow = outSize(x[3], kw, sw, dw, p[1], p[3])
        guard oh >= 1, ow >= 1 else { throw InferenceError.shapeMismatch(node: name, detail: "kernel \(kh)×\(kw) larger than input \(x[2])×\(x[3])") }
        return [[x[0], x[1], oh, ow]]
    }

    func forward(_ inputs: inout [Tensor], outputShapes: [[Int]]) -> [Tensor] {
        let x = inputs[0]
        let os = outputShapes[0]
        var out = Tensor(uninitialized: os)
        let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3]
        let oh = os[2], ow = os[3]
        let p = global ? [0, 0, 0, 0] : effectivePads(h: h, w: w)
        let level = Kernels.active
        if isMax && !global && !isPlainMax2x2 && level != .none,
           emo_dw_workspace(Int32(kh), Int32(kw), Int32(sh), Int32(sw), Int32(dh), Int32(dw), Int32(oh), Int32(ow))
               <= LayerLimits.maxPaddedPlane {
            fastMaxPool(level, x, into: &out, planes: planes, h: h, w: w, oh: oh, ow: ow, pads: p)
            return [out]
        }
        x.data.withUnsafeBufferPointer { xb in
            out.data.withUnsafeMutableBufferPointer { ob in
                for pl in 0..<planes {
                    let src = xb.baseAddress! + pl * h * w
                    let dst = ob.baseAddress! + pl * oh * ow
                    if global {
                        if isMax {
                            var m = -Float.infinity
                            for i in 0..<(h * w) { m = max(m, src[i]) }
                            dst[0] = m
                        } else {
                            var s: Float = 0
                            for i in 0..<(h * w) { s += src[i] }
                            dst[0] = s / Float(h * w)
                        }
                        continue
                    }
                    if isMax && kh == 2 && kw == 2 && sh == 2 && sw == 2 && dh == 1 && dw == 1 && p == [0, 0, 0, 0] && oh * 2 <= h && ow * 2 <= w {
                        Self.maxPool2x2(src, dst, w: w, oh: oh, ow: ow)
                        continue
                    }
                    for oy in 0..<oh {
                        let y0 = oy * sh - p[0]
                        for ox in 0..<ow {
                            let x0 = ox * sw - p[1]
                            if isMax {
                                var m = -Float.infinity
                                for ki in 0..<kh {
                                    let iy = y0 + ki * dh
                                    if iy < 0 || iy >= h { continue }
                                    for kj in 0..<kw {
                                        let ix = x0 + kj * dw
                                        if ix >= 0 && ix < w { m = max(m, src[iy * w + ix]) }
                                    }
                                }
                                dst[oy * ow + ox] = m
                            } else {
                                // Window clipped to the padded extent (divisor with count_include_pad),
                                // then to the input (what is summed).
                                let hs = y0, ws = x0
                                let he = min(y0 + (kh - 1) * dh + 1, h + p[2]), we = min(x0 + (kw - 1) * dw + 1, w + p[3])
                                var s: Float = 0
                                var valid = 0
                                for ki in 0..<kh {
                                    let iy = hs + ki * dh
                                    if iy < 0 || iy >= h { continue }
                                    for kj in 0..<kw {
                                        let ix = ws + kj * dw
                                        if ix >= 0 && ix < w { s += src[iy * w + ix]; valid += 1 }
                                    }
                                }
                                let padded = ((he - hs + dh - 1) / dh) * ((we - ws + dw - 1) / dw)
                                let div = countIncludePad ? padded : valid
                                dst[oy * ow + ox] = div > 0 ? s / Float(div) : 0
                            }
                        }
                    }
                }
            }
        }
        return [out]
    }
}
