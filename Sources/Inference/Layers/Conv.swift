import Foundation
import CKernels

/// 2-D convolution (ONNX Conv): strides, pads, auto_pad, dilations, groups.
///
/// Strategy: grouped/regular convolutions use im2col over the whole batch and
/// one sgemm per group ([M/g × K] · [K × N·OH·OW]); 1×1 stride-1 unpadded
/// convolutions skip im2col; depthwise convolutions (groups == C == M) use a
/// direct kernel since a GEMM of K = kh·kw per channel wastes most of its work.
/// BatchNormalization and a following Relu/Clip/LeakyRelu are folded in at load.
///
/// On x86-64 with AVX2/AVX-512 the GEMM is our own kernel (Sources/CKernels) with the
/// weights packed once at load and bias + activation applied before the store, one image
/// at a time straight into the NCHW output; elsewhere OpenBLAS sgemm does it.
final class ConvLayer: Layer {
    let name: String
    var weights: [Float]          // [M, C/g, kh, kw]
    var bias: [Float]             // [M]
    let outChannels: Int, inChannelsPerGroup: Int
    let kh: Int, kw: Int
    let strideH: Int, strideW: Int
    let dilH: Int, dilW: Int
    let groups: Int
    let explicitPads: [Int]       // top, left, bottom, right
    let autoPad: String
    var activation: FusedActivation = .none
    /// Weights per group packed for emo_gemm_packed (built by `prepare()` after BN folding).
    private var packed: [Float] = []
    private var packedGroupStride = 0
    /// Winograd-transformed weights when the layer qualifies (3×3, stride 1, dilation 1, one group).
    private var winograd: [Float] = []
    /// Scratch memory (im2col / Winograd planes) kept between runs: no per-run allocation of
    /// the largest buffers (see emo_tune_malloc for why that matters).
    private let scratch = Scratch()
    /// A following MaxPool(2×2, stride 2, no padding) folded in at load (only onto Winograd-eligible
    /// convolutions, where each output tile is one pooling window): output is [N, M, oh/2, ow/2].
    var fusedMaxPool2 = false

    init(_ ctx: NodeContext) throws {
        name = ctx.name
        try ctx.requireInputs(2)
        let w = try ctx.constant(1)
        guard w.shape.count == 4 else {
            throw InferenceError.unsupportedAttribute(node: ctx.name, op: "Conv", detail: "weight rank \(w.shape.count) (only 2-D convolution, rank-4 weights, is supported)")
        }
        outChannels = w.shape[0]; inChannelsPerGroup = w.shape[1]; kh = w.shape[2]; kw = w.shape[3]
        weights = w.floats
        if let b = try ctx.optionalConstant(2) {
            guard b.floats.count == outChannels else { throw ctx.shapeError("bias has \(b.floats.count) values for \(outChannels) output channels") }
            bias = b.floats
        } else {
            bias = [Float](repeating: 0, count: outChannels)
        }
        if let ks = try ctx.ints("kernel_shape"), ks != [kh, kw] {
            throw ctx.shapeError("kernel_shape \(ks) disagrees with weight shape \(w.shape)")
        }
        let s = try ctx.ints("strides") ?? [1, 1]
        let d = try ctx.ints("dilations") ?? [1, 1]
        let p = try ctx.ints("pads") ?? [0, 0, 0, 0]
        guard s.count == 2, d.count == 2, p.count == 4 else { throw ctx.shapeError("strides/dilations/pads must describe 2 spatial dims") }
        guard s.allSatisfy({ $0 >= 1 }), d.allSatisfy({ $0 >= 1 }), p.allSatisfy({ $0 >= 0 }) else {
            throw ctx.shapeError("strides and dilations must be ≥ 1 and pads ≥ 0")
        }
        guard (s + d + p + [kh, kw]).allSatisfy({ $0 <= LayerLimits.maxWindow }) else {
            throw InferenceError.tooLarge(what: "Conv '\(ctx.name)' kernel/stride/dilation/pad", elements: (s + d + p + [kh, kw]).max()!, limit: LayerLimits.maxWindow)
        }
        strideH = s[0]; strideW = s[1]; dilH = d[0]; dilW = d[1]
        explicitPads = [p[0], p[1], p[2], p[3]]
        groups = try ctx.int("group", default: 1)
        autoPad = try ctx.string("auto_pad", default: "NOTSET")
        guard ["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"].contains(autoPad) else { throw ctx.attrError("auto_pad", "unknown value \(autoPad)") }
        guard groups >= 1, outChannels % groups == 0, kh >= 1, kw >= 1, outChannels >= 1 else {
            throw ctx.shapeError("output channels \(outChannels) not divisible by group \(groups)")
        }
    }

    /// top, left, bottom, right for a given input size.
    func pads(h: Int, w: Int) -> [Int] {
        switch autoPad {
        case "VALID": return [0, 0, 0, 0]
        case "SAME_UPPER", "SAME_LOWER":
            func total(_ n: Int, _ s: Int, _ k: Int, _ d: Int) -> Int {
                let out = (n + s - 1) / s
                return max(0, (out - 1) * s + (k - 1) * d + 1 - n)
            }
            let th = total(h, strideH, kh, dilH), tw = total(w, strideW, kw, dilW)
            if autoPad == "SAME_UPPER" { return [th / 2, tw / 2, th - th / 2, tw - tw / 2] }
            return [th - th / 2, tw - tw / 2, th / 2, tw / 2]
        default: return explicitPads
        }
    }

    func outputShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        let x = inputs[0]
        guard x.count == 4 else { throw InferenceError.shapeMismatch(node: name, detail: "Conv input must be rank 4 (NCHW), got \(x)") }
        guard x[1] == inChannelsPerGroup * groups else {
            throw InferenceError.shapeMismatch(node: name, detail: "input has \(x[1]) channels, weights expect \(inChannelsPerGroup * groups)")
        }
        let p = pads(h: x[2], w: x[3])
        let (oh, ow) = convOutput(h: x[2], w: x[3], pads: p)
        guard x[2] + p[0] + p[2] >= dilH * (kh - 1) + 1, x[3] + p[1] + p[3] >= dilW * (kw - 1) + 1, oh >= 1, ow >= 1 else {
            throw InferenceError.shapeMismatch(node: name, detail: "kernel \(kh)×\(kw) larger than padded input \(x[2])×\(x[3])")
        }
        // im2col workspace: K × (N·OH·OW) floats.
        let work = ShapeMath.product([inChannelsPerGroup, kh, kw, x[0], oh, ow]) ?? Int.max
        guard work <= LayerLimits.maxWorkspace else {
            throw InferenceError.tooLarge(what: "Conv '\(name)' im2col workspace", elements: work, limit: LayerLimits.maxWorkspace)
        }
        if fusedMaxPool2 {
            guard oh >= 2, ow >= 2 else { throw InferenceError.shapeMismatch(node: name, detail: "MaxPool 2×2 after a \(oh)×\(ow) convolution output") }
            return [[x[0], outChannels, oh / 2, ow / 2]]
        }
        return [[x[0], outChannels, oh, ow]]
    }

    /// Fold a following BatchNormalization: w' = w·γ/√(σ²+ε), b' = (b−μ)·γ/√(σ²+ε) + β.
    func fold(scale: [Float], shift: [Float]) {
        let per = inChannelsPerGroup * kh * kw
        for m in 0..<outChannels {
            for i in 0..<per { weights[m * per + i] *= scale[m] }
            bias[m] = bias[m] * scale[m] + shift[m]
        }
    }

    var isDepthwise: Bool { groups > 1 && inChannelsPerGroup == 1 && outChannels == groups }

    /// Packs the (folded) weights for the SIMD kernels; called once when loading completes.
    func prepare() {
        guard !isDepthwise, Kernels.supported != .none else { packed = []; return }
        let mg = outChannels / groups, k = inChannelsPerGroup * kh * kw
        packedGroupStride = emo_pack_a_size(Int32(mg), Int32(k))
        packed = [Float](repeating: 0, count: packedGroupStride * groups)
        weights.withUnsafeBufferPointer { w in
            packed.withUnsafeMutableBufferPointer { p in
                for g in 0..<groups {
                    emo_pack_a(w.baseAddress! + g * mg * k, Int32(mg), Int32(k), p.baseAddress! + g * packedGroupStride)
                }
            }
        }
        winograd = []
        if winogradEligible {
            winograd = [Float](repeating: 0, count: emo_wino_weights_size(Int32(outChannels), Int32(inChannelsPerGroup)))
            let rc = weights.withUnsafeBufferPointer { w in
                winograd.withUnsafeMutableBufferPointer { emo_wino_pack_weights(w.baseAddress!, Int32(outChannels), Int32(inChannelsPerGroup), $0.baseAddress!) }
            }
            if rc != 0 { winograd = [] }   // out of memory: the im2col path still works
        }
    }

    /// Winograd pays off once there are enough input channels to amortise its transforms
    /// (a 1-channel first layer is cheaper as im2col + GEMM).
    var winogradEligible: Bool {
        kh == 3 && kw == 3 && strideH == 1 && strideW == 1 && dilH == 1 && dilW == 1 && groups == 1 && inChannelsPerGroup >= 8
    }

    func forward(_ inputs: inout [Tensor], outputShapes: [[Int]]) -> [Tensor] {
        let x = inputs[0]
        let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
        let p = pads(h: h, w: w)
        let (oh, ow) = convOutput(h: h, w: w, pads: p)
        let level = Kernels.active
        let winogradPath = !winograd.isEmpty && Kernels.winograd && level != .none
        // A fused max pool is done inside the Winograd output transform; other paths
        // compute the full convolution and pool it here.
        let poolHere = fusedMaxPool2 && !winogradPath
        var out = Tensor(uninitialized: poolHere ? [n, outChannels, oh, ow] : outputShapes[0])
        x.data.withUnsafeBufferPointer { xp in
            out.data.withUnsafeMutableBufferPointer { op in
                weights.withUnsafeBufferPointer { wp in
                    if !isDepthwise, level != .none, !packed.isEmpty {
                        kernelConv(level, xp.baseAddress!, op.baseAddress!, n: n, c: c, h: h, w: w, oh: oh, ow: ow, pads: p, winogradPath: winogradPath)
                    } else if isDepthwise, level != .none,
                              emo_dw_workspace(Int32(kh), Int32(kw), Int32(strideH), Int32(strideW), Int32(dilH),
                                               Int32(dilW), Int32(oh), Int32(ow)) <= LayerLimits.maxPaddedPlane {
                        fastDepthwise(level, xp.baseAddress!, wp.baseAddress!, op.baseAddress!, n: n, c: c, h: h, w: w,
                                      oh: oh, ow: ow, padT: p[0], padL: p[1])
                    } else if isDepthwise {
                        depthwise(xp.baseAddress!, wp.baseAddress!, op.baseAddress!, n: n, c: c, h: h, w: w, oh: oh, ow: ow, padT: p[0], padL: p[1])
                    } else {
                        gemmConv(xp.baseAddress!, wp.baseAddress!, op.baseAddress!, n: n, c: c, h: h, w: w, oh: oh, ow: ow, padT: p[0], padL: p[1], pads: p)
                    }
                }
            }
        }
        if poolHere { return [Self.maxPool2(out, into: outputShapes[0])] }
        return [out]
    }

    func convOutput(h: Int, w: Int, pads p: [Int]) -> (Int, Int) {
        ((h + p[0] + p[2] - dilH * (kh - 1) - 1) / strideH + 1, (w + p[1] + p[3] - dilW * (kw - 1) - 1) / strideW + 1)
    }

    /// 2×2 stride-2 max pool (floor), for a fused pool on the non-Winograd paths.
    static func maxPool2(_ x: Tensor, into shape: [Int]) -> Tensor {
        var y = Tensor(uninitialized: shape)
        let planes = shape[0] * shape[1], ph = shape[2], pw = shape[3], h = x.shape[2], w = x.shape[3]
        x.data.withUnsafeBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                for pl in 0..<planes {
                    PoolLayer.maxPool2x2(xp.baseAddress! + pl * h * w, yp.baseAddress! + pl * ph * pw, w: w, oh: ph, ow: pw)
                }
            }
        }
        return y
    }

    /// Per image and group: im2col (skipped for 1×1/stride 1/no pad) then one packed GEMM
    /// writing the NCHW output rows with bias and activation applied.
    private func kernelConv(_ level: Kernels.Level, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                            n: Int, c: Int, h: Int, w: Int, oh: Int, ow: Int, pads: [Int], winogradPath: Bool) {
        let ohw = oh * ow, hw = h * w
        let cg = inChannelsPerGroup, mg = outChannels / groups
        let k = cg * kh * kw
        let pointwise = kh == 1 && kw == 1 && strideH == 1 && strideW == 1 && pads.allSatisfy { $0 == 0 }
        let need = winogradPath ? emo_wino_workspace(Int32(outChannels), Int32(c), Int32(oh), Int32(ow)) : (pointwise ? 0 : k * ohw)
        let lease = scratch.lease(need)
        defer { scratch.giveBack(lease) }
        let col = pointwise || winogradPath ? nil : lease.pointer
        let (act, p0, p1) = kernelActivation
        if winogradPath {
            let outPlane = fusedMaxPool2 ? (oh / 2) * (ow / 2) : ohw
            let work = lease.pointer
            winograd.withUnsafeBufferPointer { up in
                bias.withUnsafeBufferPointer { bp in
                    for img in 0..<n {
                        let rc = emo_wino_conv(level.rawValue, x + img * c * hw, Int32(c), Int32(h), Int32(w), Int32(pads[0]), Int32(pads[1]),
                                               Int32(oh), Int32(ow), up.baseAddress!, Int32(outChannels), bp.baseAddress!, act, p0, p1,
                                               fusedMaxPool2 ? 1 : 0, out + img * outChannels * outPlane, work)
                        precondition(rc == 0, "emo_wino_conv rejected level \(level.name)")
                    }
                }
            }
            return
        }
        packed.withUnsafeBufferPointer { ap in
            bias.withUnsafeBufferPointer { bp in
                for img in 0..<n {
                    for g in 0..<groups {
                        let first = x + (img * c + g * cg) * hw
                        var b = UnsafePointer(first)
                        if let col {
                            emo_im2col(first, Int32(cg), Int32(h), Int32(w), Int32(kh), Int32(kw), Int32(strideH), Int32(strideW),
                                       Int32(dilH), Int32(dilW), Int32(pads[0]), Int32(pads[1]), Int32(oh), Int32(ow), col)
                            b = UnsafePointer(col)
                        }
                        let rc = emo_gemm_packed(level.rawValue, Int32(mg), Int32(ohw), Int32(k),
                                                 ap.baseAddress! + g * packedGroupStride, b, Int32(ohw),
                                                 out + (img * outChannels + g * mg) * ohw, Int32(ohw),
                                                 bp.baseAddress! + g * mg, act, p0, p1)
                        precondition(rc == 0, "emo_gemm_packed rejected level \(level.name)")
                    }
                }
            }
        }
    }

    private func gemmConv(_ x: UnsafePointer<Float>, _ wt: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                          n: Int, c: Int, h: Int, w: Int, oh: Int, ow: Int, padT: Int, padL: Int, pads: [Int]) {
        let ohw = oh * ow, hw = h * w
        let cg = inChannelsPerGroup, mg = outChannels / groups
        let k = cg * kh * kw
        let cols = n * ohw
        let pointwise = kh == 1 && kw == 1 && strideH == 1 && strideW == 1 && pads.allSatisfy { $0 == 0 }
        // Single image, single group, 1×1: the input already is the [K × HW] matrix and
        // the output the [M × HW] matrix; write straight into the output.
        if pointwise && n == 1 && groups == 1 {
            BLAS.sgemm(m: outChannels, n: ohw, k: k, a: wt, lda: k, b: x, ldb: ohw, c: out, ldc: ohw)
            for m in 0..<outChannels {
                let row = out + m * ohw
                let b = bias[m]
                for i in 0..<ohw { row[i] += b }
                activation.apply(row, count: ohw)
            }
            return
        }
        let col = UnsafeMutablePointer<Float>.allocate(capacity: k * cols)
        defer { col.deallocate() }
        // With one image the GEMM result already is the NCHW output (rows = channels).
        let direct = n == 1
        let tmp = direct ? out : UnsafeMutablePointer<Float>.allocate(capacity: mg * cols)
        defer { if !direct { tmp.deallocate() } }
        for g in 0..<groups {
            // im2col: row r = (ci, ki, kj), column = img * ohw + oy * ow + ox.
            for ci in 0..<cg {
                let chan = g * cg + ci
                for ki in 0..<kh {
                    for kj in 0..<kw {
                        let r = (ci * kh + ki) * kw + kj
                        let rowp = col + r * cols
                        for img in 0..<n {
                            let src = x + (img * c + chan) * hw
                            let dst = rowp + img * ohw
                            im2colRow(src, dst, h: h, w: w, oh: oh, ow: ow, ki: ki, kj: kj, padT: padT, padL: padL)
                        }
                    }
                }
            }
            if direct {
                let o = out + g * mg * ohw
                BLAS.sgemm(m: mg, n: cols, k: k, a: wt + g * mg * k, lda: k, b: col, ldb: cols, c: o, ldc: cols)
                for m in 0..<mg {
                    let row = o + m * ohw, b = bias[g * mg + m]
                    for i in 0..<ohw { row[i] += b }
                    activation.apply(row, count: ohw)
                }
                continue
            }
            BLAS.sgemm(m: mg, n: cols, k: k, a: wt + g * mg * k, lda: k, b: col, ldb: cols, c: tmp, ldc: cols)
            // Scatter [mg × (n·ohw)] into NCHW with bias and fused activation.
            for m in 0..<mg {
                let oc = g * mg + m
                let b = bias[oc]
                for img in 0..<n {
                    let src = tmp + m * cols + img * ohw
                    let dst = out + (img * outChannels + oc) * ohw
                    for i in 0..<ohw { dst[i] = src[i] + b }
                    activation.apply(dst, count: ohw)
                }
            }
        }
    }

    @inline(__always)
    private func im2colRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, h: Int, w: Int,
                           oh: Int, ow: Int, ki: Int, kj: Int, padT: Int, padL: Int) {
        // Valid ox range where 0 <= ox*sw - padL + kj*dw < w.
        let offX = kj * dilW - padL
        var oxLo = 0
        if offX < 0 { oxLo = (-offX + strideW - 1) / strideW }
        var oxHi = ow // exclusive
        if w - 1 - offX < 0 { oxHi = 0 } else { oxHi = min(ow, (w - 1 - offX) / strideW + 1) }
        if oxLo > oxHi { oxLo = oxHi }
        for oy in 0..<oh {
            let iy = oy * strideH - padT + ki * dilH
            let d = dst + oy * ow
            if iy < 0 || iy >= h {
                d.initialize(repeating: 0, count: ow)
                continue
            }
            let s = src + iy * w
            if oxLo > 0 { d.initialize(repeating: 0, count: oxLo) }
            if strideW == 1 {
                (d + oxLo).update(from: s + (oxLo + offX), count: oxHi - oxLo)
            } else {
                var ix = oxLo * strideW + offX
                for ox in oxLo..<oxHi { d[ox] = s[ix]; ix += strideW }
            }
            if oxHi < ow { (d + oxHi).initialize(repeating: 0, count: ow - oxHi) }
        }
    }

    /// The fused activation as the C kernels take it: kind and its two parameters.
    var kernelActivation: (Int32, Float, Float) {
        switch activation {
        case .none: return (Int32(EMO_ACT_NONE), 0, 0)
        case .relu: return (Int32(EMO_ACT_RELU), 0, 0)
        case let .leakyRelu(a): return (Int32(EMO_ACT_LEAKY), a, 0)
        case let .clip(lo, hi): return (Int32(EMO_ACT_CLIP), lo, hi)
        }
    }

    /// Depthwise on the SIMD kernel (Sources/CKernels/depthwise.c); `depthwise` below is the
    /// plain reference it is tested against.
    private func fastDepthwise(_ level: Kernels.Level, _ x: UnsafePointer<Float>, _ wt: UnsafePointer<Float>,
                               _ out: UnsafeMutablePointer<Float>, n: Int, c: Int, h: Int, w: Int, oh: Int, ow: Int,
                               padT: Int, padL: Int) {
        let (act, p0, p1) = kernelActivation
        let geometry = (Int32(kh), Int32(kw), Int32(strideH), Int32(strideW), Int32(dilH), Int32(dilW))
        let lease = scratch.lease(emo_dw_workspace(geometry.0, geometry.1, geometry.2, geometry.3, geometry.4,
                                                   geometry.5, Int32(oh), Int32(ow)))
        defer { scratch.giveBack(lease) }
        bias.withUnsafeBufferPointer { bp in
            for img in 0..<n {
                let rc = emo_depthwise(level.rawValue, x + img * c * h * w, Int32(c), Int32(h), Int32(w), wt,
                                       geometry.0, geometry.1, geometry.2, geometry.3, geometry.4, geometry.5,
                                       Int32(padT), Int32(padL), Int32(oh), Int32(ow), bp.baseAddress!, act, p0, p1,
                                       out + img * c * oh * ow, lease.pointer)
                precondition(rc == 0, "emo_depthwise rejected level \(level.name)")
            }
        }
    }

    private func depthwise(_ x: UnsafePointer<Float>, _ wt: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                           n: Int, c: Int, h: Int, w: Int, oh: Int, ow: Int, padT: Int, padL: Int) {
        let ksz = kh * kw
        for img in 0..<n {
            for ch in 0..<c {
                let src = x + (img * c + ch) * h * w
                let dst = out + (img * c + ch) * oh * ow
                let k = wt + ch * ksz
                let b = bias[ch]
                for oy in 0..<oh {
                    let iy0 = oy * strideH - padT
                    let drow = dst + oy * ow
                    for ox in 0..<ow {
                        let ix0 = ox * strideW - padL
                        var acc = b
                        for ki in 0..<kh {
                            let iy = iy0 + ki * dilH
                            if iy < 0 || iy >= h { continue }
                            let srow = src + iy * w
                            let krow = k + ki * kw
                            for kj in 0..<kw {
                                let ix = ix0 + kj * dilW
                                if ix >= 0 && ix < w { acc += srow[ix] * krow[kj] }
                            }
                        }
                        drow[ox] = activation.apply(acc)
                    }
                }
            }
        }
    }
}

extension ConvLayer {
    func macs(inputs: [[Int]], outputs: [[Int]]) -> Int {
        // With a fused max pool the output is pooled: count the convolution's own outputs.
        let x = inputs[0]
        guard x.count == 4 else { return 0 }
        let (oh, ow) = convOutput(h: x[2], w: x[3], pads: pads(h: x[2], w: x[3]))
        return x[0] * outChannels * oh * ow * inChannelsPerGroup * kh * kw
    }
}

/// A growable float buffer reused across runs. A caller that finds it busy (another thread
/// running the same model at the same moment) gets a private temporary block instead.
final class Scratch: @unchecked Sendable {
    struct Lease { let pointer: UnsafeMutablePointer<Float>; let owned: Bool }
    private let lock = NSLock()
    private var buffer: UnsafeMutablePointer<Float>?
    private var capacity = 0

    func lease(_ count: Int) -> Lease {
        let n = max(count, 1)
        guard lock.try() else { return Lease(pointer: .allocate(capacity: n), owned: true) }
        if capacity < n {
            buffer?.deallocate()
            buffer = .allocate(capacity: n)
            capacity = n
        }
        return Lease(pointer: buffer!, owned: false)
    }

    func giveBack(_ l: Lease) {
        if l.owned { l.pointer.deallocate() } else { lock.unlock() }
    }

    deinit { buffer?.deallocate() }
}
