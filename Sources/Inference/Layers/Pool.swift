import CKernels
/// MaxPool / AveragePool (2-D, pads, strides, ceil_mode, auto_pad, count_include_pad)
/// and GlobalAveragePool / GlobalMaxPool.
final class PoolLayer: Layer {
    let name: String
    private var scratch: ScratchPool { .shared }
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

    /// `maxPool2x2` on the AVX-512 kernel (emo_maxpool2x2), for every plane of `x` into `out`
    /// (shape [n, c, h/2, w/2]); the scalar loop at other levels.
    static func maxPool2x2(_ level: Kernels.Level, _ x: Tensor, into out: inout Tensor) {
        let planes = out.shape[0] * out.shape[1], oh = out.shape[2], ow = out.shape[3], h = x.shape[2], w = x.shape[3]
        x.data.withUnsafeBufferPointer { xb in
            out.data.withUnsafeMutableBufferPointer { ob in
                if level == .avx512,
                   emo_maxpool2x2(level.rawValue, xb.baseAddress!, Int32(planes), Int32(h), Int32(w), Int32(oh), Int32(ow),
                                  ob.baseAddress!) == 0 { return }
                for pl in 0..<planes { maxPool2x2(xb.baseAddress! + pl * h * w, ob.baseAddress! + pl * oh * ow, w: w, oh: oh, ow: ow) }
            }
        }
    }

    /// MaxPool 2×2, stride 2, no padding/dilation, floor rounding: foldable into a Winograd conv.
    var isPlainMax2x2: Bool {
        isMax && !global && kh == 2 && kw == 2 && sh == 2 && sw == 2 && dh == 1 && dw == 1 && pads.allSatisfy { $0 == 0 }
            && !ceilMode && (autoPad == "NOTSET" || autoPad == "VALID")
    }

    /// Max pool on the SIMD kernel (Sources/CKernels/depthwise.c); `plainPool` is the
    /// plain reference it is tested against.
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

    func forward(_ inputs: inout [Tensor], outputShapes: [[Int]], options: InferenceOptions) -> [Tensor] {
        let x = inputs[0]
        let os = outputShapes[0]
        var out = Tensor(uninitialized: os)
        let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3]
        let oh = os[2], ow = os[3]
        let p = global ? [0, 0, 0, 0] : effectivePads(h: h, w: w)
        let level = options.kernels
        if isPlainMax2x2 && level == .avx512 {
            options.trace?.record("MaxPool 2x2 avx512")
            Self.maxPool2x2(level, x, into: &out)
            return [out]
        }
        if usesSIMD(level, oh: oh, ow: ow) {
            options.trace?.record("MaxPool simd \(level.name)")
            fastMaxPool(level, x, into: &out, planes: planes, h: h, w: w, oh: oh, ow: ow, pads: p)
            return [out]
        }
        if usesSIMDAverage(level, oh: oh, ow: ow) {
            options.trace?.record("AveragePool simd \(level.name)")
            fastAvgPool(level, x, into: &out, planes: planes, h: h, w: w, oh: oh, ow: ow, pads: p)
            return [out]
        }
        options.trace?.record("\(isMax ? "MaxPool" : "AveragePool") plain")
        x.data.withUnsafeBufferPointer { xb in
            out.data.withUnsafeMutableBufferPointer { ob in
                for pl in 0..<planes {
                    plainPool(xb.baseAddress! + pl * h * w, ob.baseAddress! + pl * oh * ow,
                              h: h, w: w, oh: oh, ow: ow, pads: p)
                }
            }
        }
        return [out]
    }

    /// Whether a max pool runs on the SIMD kernel. A plain 2×2/2 pool does not: it has its own
    /// (AVX-512) or the scalar `maxPool2x2`. Nor does a geometry whose padded plane would be huge
    /// (hostile pads or strides).
    func usesSIMD(_ level: Kernels.Level, oh: Int, ow: Int) -> Bool {
        guard isMax && !global && !isPlainMax2x2 && level != .none else { return false }
        return emo_dw_workspace(Int32(kh), Int32(kw), Int32(sh), Int32(sw), Int32(dh), Int32(dw), Int32(oh), Int32(ow))
            <= LayerLimits.maxPaddedPlane
    }

    /// Whether an average pool runs on the SIMD depthwise kernel (windows of up to 1024 taps, whose
    /// shared filter is built per call; the padded plane bounded as for max pools).
    func usesSIMDAverage(_ level: Kernels.Level, oh: Int, ow: Int) -> Bool {
        guard !isMax && !global && level != .none && kh * kw <= 1024 else { return false }
        return emo_dw_workspace(Int32(kh), Int32(kw), Int32(sh), Int32(sw), Int32(dh), Int32(dw), Int32(oh), Int32(ow))
            <= LayerLimits.maxPaddedPlane
    }

    /// Average pool as a depthwise convolution with one shared filter of equal taps
    /// (Sources/CKernels/depthwise.c, `emo_avgpool`); `plainPool` is its reference.
    private func fastAvgPool(_ level: Kernels.Level, _ x: Tensor, into out: inout Tensor, planes: Int, h: Int, w: Int,
                             oh: Int, ow: Int, pads p: [Int]) {
        let recip = averageReciprocals(h: h, w: w, oh: oh, ow: ow, pads: p)
        let taps = [Float](repeating: recip == nil ? 1 / Float(kh * kw) : 1, count: kh * kw)
        let g = (Int32(kh), Int32(kw), Int32(sh), Int32(sw), Int32(dh), Int32(dw))
        let lease = scratch.lease(emo_dw_workspace(g.0, g.1, g.2, g.3, g.4, g.5, Int32(oh), Int32(ow)))
        defer { scratch.giveBack(lease) }
        x.data.withUnsafeBufferPointer { xb in
            out.data.withUnsafeMutableBufferPointer { ob in
                let rc = emo_avgpool(level.rawValue, xb.baseAddress!, Int32(planes), Int32(h), Int32(w), taps, g.0, g.1,
                                     g.2, g.3, g.4, g.5, Int32(p[0]), Int32(p[1]), Int32(oh), Int32(ow), recip,
                                     ob.baseAddress!, lease.pointer)
                precondition(rc == 0, "emo_avgpool rejected level \(level.name)")
            }
        }
    }

    /// 1/divisor per output position, or nil when every window's divisor is kh·kw (count_include_pad
    /// and no window past the padded input). The divisor counts taps per axis, as `windowMean` does:
    /// inside the padded extent (count_include_pad) or inside the input; a product of the two axes.
    func averageReciprocals(h: Int, w: Int, oh: Int, ow: Int, pads p: [Int]) -> [Float]? {
        if countIncludePad && (oh - 1) * sh + (kh - 1) * dh + 1 <= h + p[0] + p[2]
            && (ow - 1) * sw + (kw - 1) * dw + 1 <= w + p[1] + p[3] { return nil }
        func taps(_ o: Int, _ s: Int, _ k: Int, _ d: Int, _ lead: Int, _ n: Int, _ trail: Int) -> Int {
            let start = o * s - lead
            let lo = countIncludePad ? -lead : 0, hi = countIncludePad ? n + trail : n
            return (0..<k).reduce(0) { $0 + (start + $1 * d >= lo && start + $1 * d < hi ? 1 : 0) }
        }
        let rows = (0..<oh).map { taps($0, sh, kh, dh, p[0], h, p[2]) }
        let cols = (0..<ow).map { taps($0, sw, kw, dw, p[1], w, p[3]) }
        var r = [Float](repeating: 0, count: oh * ow)
        for oy in 0..<oh {
            for ox in 0..<ow where rows[oy] * cols[ox] > 0 { r[oy * ow + ox] = 1 / Float(rows[oy] * cols[ox]) }
        }
        return r
    }

    /// The plain reference over one plane, which the SIMD max pool is tested against.
    private func plainPool(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, h: Int, w: Int,
                           oh: Int, ow: Int, pads p: [Int]) {
        if global {
            dst[0] = isMax ? globalMax(src, count: h * w) : globalMean(src, count: h * w)
            return
        }
        if isMax && kh == 2 && kw == 2 && sh == 2 && sw == 2 && dh == 1 && dw == 1 && p == [0, 0, 0, 0]
            && oh * 2 <= h && ow * 2 <= w {
            Self.maxPool2x2(src, dst, w: w, oh: oh, ow: ow)
            return
        }
        for oy in 0..<oh {
            for ox in 0..<ow {
                let y0 = oy * sh - p[0], x0 = ox * sw - p[1]
                dst[oy * ow + ox] = isMax ? windowMax(src, h: h, w: w, y0: y0, x0: x0)
                                          : windowMean(src, h: h, w: w, y0: y0, x0: x0, pads: p)
            }
        }
    }

    private func globalMax(_ src: UnsafePointer<Float>, count: Int) -> Float {
        var m = -Float.infinity
        for i in 0..<count { m = max(m, src[i]) }
        return m
    }

    private func globalMean(_ src: UnsafePointer<Float>, count: Int) -> Float {
        var s: Float = 0
        for i in 0..<count { s += src[i] }
        return s / Float(count)
    }

    /// Max over the window at (y0, x0); padding never wins.
    @inline(__always)
    private func windowMax(_ src: UnsafePointer<Float>, h: Int, w: Int, y0: Int, x0: Int) -> Float {
        var m = -Float.infinity
        for ki in 0..<kh {
            let iy = y0 + ki * dh
            if iy < 0 || iy >= h { continue }
            for kj in 0..<kw {
                let ix = x0 + kj * dw
                if ix >= 0 && ix < w { m = max(m, src[iy * w + ix]) }
            }
        }
        return m
    }

    /// Mean over the window at (y0, x0): the window is clipped to the padded extent (the divisor
    /// with count_include_pad), then to the input (what is summed).
    @inline(__always)
    private func windowMean(_ src: UnsafePointer<Float>, h: Int, w: Int, y0: Int, x0: Int, pads p: [Int]) -> Float {
        let he = min(y0 + (kh - 1) * dh + 1, h + p[2]), we = min(x0 + (kw - 1) * dw + 1, w + p[3])
        var s: Float = 0
        var valid = 0
        for ki in 0..<kh {
            let iy = y0 + ki * dh
            if iy < 0 || iy >= h { continue }
            for kj in 0..<kw {
                let ix = x0 + kj * dw
                if ix >= 0 && ix < w { s += src[iy * w + ix]; valid += 1 }
            }
        }
        let padded = ((he - y0 + dh - 1) / dh) * ((we - x0 + dw - 1) / dw)
        let div = countIncludePad ? padded : valid
        return div > 0 ? s / Float(div) : 0
    }
}
