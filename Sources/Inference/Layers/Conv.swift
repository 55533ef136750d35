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
///
/// Each call picks one `ConvPath` from its `InferenceOptions` (see `path(_:options:)`);
/// the paths themselves are in ConvPaths.swift, beside the plain reference loop.
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
    /// Packed whenever the CPU has a SIMD level, so that any call's options can use them.
    private(set) var packed: [Float] = []
    private(set) var packedGroupStride = 0
    /// Winograd-transformed weights when the layer qualifies (3×3, stride 1, dilation 1, one group).
    private(set) var winogradWeights: [Float] = []
    /// F(4×4,3×3)-transformed weights, where that path may pay (`winogradF4Eligible`, AVX-512).
    private(set) var winogradF4Weights: [Float] = []
    /// Scratch memory (im2col / Winograd planes) kept between runs: no per-run allocation of
    /// the largest buffers (see emo_tune_malloc for why that matters).
    var scratch: ScratchPool { .shared }
    /// Weights packed for trimmed kernels (`gemmTaps`), by live rows and columns.
    var trimmed: [[Int]: ([Float], Int)] = [:]
    let trimLock = NSLock()
    /// A following MaxPool(2×2, stride 2, no padding) folded in at load (only onto Winograd-eligible
    /// convolutions, where each output tile is one pooling window): output is [N, M, oh/2, ow/2].
    var fusedMaxPool2 = false
    /// A following Add folded in at load (a residual connection: the step then runs where the Add
    /// was and reads the Add's other input as its second input). The SIMD GEMM, rows and Winograd
    /// paths add it before the activation, as the output is stored; other paths, and a residual that
    /// is broadcast rather than the output's shape, run this Add and then the activation after the
    /// convolution. ResNet18 spent 0.66 ms in its separate Adds and ~0.8 ms in the Relu pass
    /// after each.
    var fusedAdd: BinaryLayer?
    /// A 1×1 convolution before this depthwise one, folded in at load when its output had no other
    /// reader (MobileNetV2's expansion): this step then reads the expansion's input, and the SIMD
    /// path (`expandDepthwise`) expands a band of rows at a time into scratch that stays in cache,
    /// instead of writing the whole expanded map (96 × 112² floats, 4.8 MB) and reading it back.
    var fusedExpand: ConvLayer?

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
        let expanded = try fusedExpand.map { try $0.outputShapes([inputs[0]])[0] } ?? inputs[0]
        let conv = try convOutputShape(expanded)
        guard let add = fusedAdd, inputs.count > 1 else { return [conv] }
        return try add.outputShapes([conv, inputs[1]])
    }

    private func convOutputShape(_ x: [Int]) throws -> [Int] {
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
            return [x[0], outChannels, oh / 2, ow / 2]
        }
        return [x[0], outChannels, oh, ow]
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
        fusedExpand?.prepare()
        guard !isDepthwise, Kernels.supported != .none else { packed = []; return }
        (packed, packedGroupStride) = Self.packPerGroup(weights, rows: outChannels / groups, groups: groups)
        winogradWeights = []
        if winogradEligible {
            winogradWeights = [Float](repeating: 0, count: emo_wino_weights_size(Int32(outChannels), Int32(inChannelsPerGroup)))
            let rc = weights.withUnsafeBufferPointer { w in
                winogradWeights.withUnsafeMutableBufferPointer {
                    emo_wino_pack_weights(w.baseAddress!, Int32(outChannels), Int32(inChannelsPerGroup), $0.baseAddress!)
                }
            }
            if rc != 0 { winogradWeights = [] }   // out of memory: the im2col path still works
        }
        winogradF4Weights = []
        if winogradF4Eligible && Kernels.supported == .avx512 {
            let (m, c) = (Int32(outChannels), Int32(inChannelsPerGroup))
            winogradF4Weights = [Float](repeating: 0, count: emo_w43_weights_size(m, c))
            let rc = weights.withUnsafeBufferPointer { w in
                winogradF4Weights.withUnsafeMutableBufferPointer { emo_w43_pack_weights(w.baseAddress!, m, c, $0.baseAddress!) }
            }
            if rc != 0 { winogradF4Weights = [] }
        }
    }

    /// Winograd pays off once there are enough input and output channels to amortise its
    /// transforms: with 8 → 8 channels (mini-Xception's stem, 44×44) it took 0.15–0.27 ms against
    /// 0.08–0.10 ms for im2col + GEMM, with 128 → 7 (its head, 3×3) 0.07–0.12 against 0.06 ms.
    var winogradEligible: Bool {
        kh == 3 && kw == 3 && strideH == 1 && strideW == 1 && dilH == 1 && dilW == 1 && groups == 1
            && inChannelsPerGroup >= 16 && outChannels >= 16
    }

    /// Winograd's transformed weights are 16/9 the size of the kernel's, and a map of fewer than
    /// 2×2 tiles leaves nothing for its fewer multiplies to save: Inception v3 at 75×75 input ran
    /// its 1×1-map 3×3 layers (448 → 384) on 11 MB of transformed weights each, 1.2–1.3 ms.
    /// Weights past L2 (2 MiB a core here) come from memory on every inference; that pays only
    /// where the tiles fit the map, saving the full 2.25× of multiplies: an odd 7×7 map is 4×4
    /// tiles of which 49 of 64 outputs are used (1.7×). ResNet18's 7×7 layers (512 → 512, 16 MiB
    /// transformed): 2.1–2.7 ms with Winograd, 1.7–2.5 ms with im2col + GEMM; its 14×14 ones
    /// (4 MiB) 1.5–2.2 against 1.6–2.1 ms, Inception's 8×8 (448 → 384, 11 MiB) 1.5–1.9 against
    /// 1.7–2.4 ms (min of 30 each, caches flushed between runs, three alternating passes).
    func winogradPays(_ g: ConvGeometry) -> Bool {
        let tiles = ((g.oh + 1) / 2) * ((g.ow + 1) / 2)
        let transformedBytes = 16 * outChannels * inChannelsPerGroup * MemoryLayout<Float>.size
        let saving = Double(9 * g.oh * g.ow) / Double(16 * tiles)
        return tiles >= 4 && (saving >= 2 || transformedBytes <= 2 << 20)
    }

    /// F(4×4)'s transforms cost more per tile and its weights are 4× the kernel's: it needs more
    /// channels than F(2×2) and weights that stay near L2 (36 · M · C floats ≤ 4 MiB: ResNet18's
    /// 128 → 128, not its 256 → 256).
    var winogradF4Eligible: Bool {
        winogradEligible && min(inChannelsPerGroup, outChannels) >= 24 && 36 * outChannels * inChannelsPerGroup <= 1 << 20
    }

    /// F(4×4) where its 4×4 tiles fit the map (at least 3×3 tiles, ≥ 75 % of their outputs used), and
    /// on maps wider than 32 only from 48 channels each way, where the GEMMs outweigh the transforms.
    /// Measured (per layer in the net, best of five alternating runs; harness, min of 150):
    /// FERVGG's 6×6 layers (2×2 tiles) 0.78× as fast as on F(2×2), its 24² and 12² ones 1.08–1.37×,
    /// 32 → 64 at 24² included; Inception's 64 → 96 at 35² 1.37×, 80 → 192 at 71² 1.28×, but its
    /// 32 → 32 and 32 → 64 at 147² 0.93–0.96× (F(2×2) fills its vectors there; the transforms of 32
    /// channels cost as much as the GEMMs save).
    func winogradF4Pays(_ g: ConvGeometry) -> Bool {
        let tiles = ((g.oh + 3) / 4) * ((g.ow + 3) / 4)
        let channels = min(inChannelsPerGroup, outChannels)
        return tiles >= 9 && 4 * g.oh * g.ow >= 3 * 16 * tiles && (channels >= 48 || g.ow <= 32)
    }

    func forward(_ inputs: inout [Tensor], outputShapes: [[Int]], options: InferenceOptions) -> [Tensor] {
        var x = inputs[0]
        let g = geometry(expandedShape(x.shape))
        let path = self.path(g, options: options)
        if let e = fusedExpand, !path.expandsItself {
            var ins = [x]
            x = e.forward(&ins, outputShapes: [expandedShape(x.shape)], options: options)[0]
        }
        options.trace?.record("Conv \(path)\(traceSuffix(path, g, options.kernels))")
        if let add = fusedAdd, inputs.count > 1 {
            return [forward(x, residual: inputs[1], add, path, g, outputShapes: outputShapes, options: options)]
        }
        // A fused max pool is done inside the Winograd output transform; other paths
        // compute the full convolution and pool it here.
        let poolHere = fusedMaxPool2 && !path.isWinograd
        var out = Tensor(uninitialized: poolHere ? [g.n, outChannels, g.oh, g.ow] : outputShapes[0])
        x.data.withUnsafeBufferPointer { xp in
            out.data.withUnsafeMutableBufferPointer { op in run(path, xp.baseAddress!, op.baseAddress!, g, ConvEpilogue(activation: activation)) }
        }
        if poolHere { return [Self.maxPool2(out, into: outputShapes[0], options.kernels)] }
        return [out]
    }

    /// With a fused Add (never with a fused pool): the residual goes into the store where the path
    /// takes one and it has the output's shape; otherwise the Add runs after the convolution.
    private func forward(_ x: Tensor, residual res: Tensor, _ add: BinaryLayer, _ path: ConvPath, _ g: ConvGeometry,
                         outputShapes: [[Int]], options: InferenceOptions) -> Tensor {
        var out = Tensor(uninitialized: [g.n, outChannels, g.oh, g.ow])
        let inStore = res.shape == out.shape && path.takesResidual
        x.data.withUnsafeBufferPointer { xp in
            res.data.withUnsafeBufferPointer { rp in
                out.data.withUnsafeMutableBufferPointer { op in
                    let ep = inStore ? ConvEpilogue(activation: activation, residual: rp.baseAddress!) : ConvEpilogue(activation: .none)
                    run(path, xp.baseAddress!, op.baseAddress!, g, ep)
                }
            }
        }
        if inStore { return out }
        var pair = [out, res]
        var sum = add.forward(&pair, outputShapes: outputShapes, options: options)[0]
        sum.data.withUnsafeMutableBufferPointer { activation.apply($0.baseAddress!, count: $0.count) }
        return sum
    }

    /// How a path runs this geometry, for the trace: " implicit", " k-blocked", " flat" or nothing.
    private func traceSuffix(_ path: ConvPath, _ g: ConvGeometry, _ level: Kernels.Level) -> String {
        if path.isSimdGemm {
            return implicitIm2col(g, level: level) ? " implicit" : kBlocked(g, level: level) ? " k-blocked" : ""
        }
        if case .simdRows = path, rowsFlat(g) { return " flat" }
        return ""
    }

    /// Which path this call takes: decided by the options and the geometry alone.
    func path(_ g: ConvGeometry, options: InferenceOptions) -> ConvPath {
        let level = options.kernels
        if level != .none && !isDepthwise && !packed.isEmpty {
            if options.useWinogradF4 && !winogradF4Weights.isEmpty && winogradF4Pays(g) { return .winogradF4 }
            if options.useWinograd && !winogradWeights.isEmpty && winogradPays(g) { return .winograd(level) }
            return level == .avx512 && rowsPay(g) ? .simdRows(level) : .simdGemm(level)
        }
        // The SIMD depthwise kernel copies each padded plane: a hostile geometry (huge pads or
        // strides) would need a huge one, so it runs on the plain loop, which needs no scratch.
        if level != .none && isDepthwise && depthwiseWorkspace(g) <= LayerLimits.maxPaddedPlane {
            return fusedExpand?.packed.isEmpty == false ? .expandDepthwise(level) : .simdDepthwise(level)
        }
        return options.blas && !isDepthwise ? .blas : .direct
    }

    /// `ep.residual` only on paths that take one (`ConvPath.takesResidual`).
    private func run(_ path: ConvPath, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ g: ConvGeometry,
                     _ ep: ConvEpilogue) {
        precondition(ep.residual == nil || path.takesResidual, "Conv path \(path) takes no residual")
        switch path {
        case let .winograd(level): winogradConv(level, x, out, g, ep)
        case .winogradF4: winogradF4Conv(x, out, g, ep)
        case let .simdGemm(level): simdGemmConv(level, x, out, g, ep)
        case let .simdRows(level): simdRowsConv(level, x, out, g, ep)
        case let .simdDepthwise(level): simdDepthwise(level, x, out, g, ep.activation)
        case let .expandDepthwise(level): expandDepthwise(level, x, out, g, ep.activation)
        case .blas: blasConv(x, out, g, ep.activation)
        case .direct: directConv(x, out, g, ep.activation)
        }
    }

    /// The shape this convolution itself reads: a fused expansion's output for an input of shape `s`.
    func expandedShape(_ s: [Int]) -> [Int] {
        guard let e = fusedExpand else { return s }
        return [s[0], e.outChannels, s[2], s[3]]
    }

    /// Shapes of one run on an NCHW input of shape `s`.
    func geometry(_ s: [Int]) -> ConvGeometry {
        let p = pads(h: s[2], w: s[3])
        let (oh, ow) = convOutput(h: s[2], w: s[3], pads: p)
        return ConvGeometry(n: s[0], c: s[1], h: s[2], w: s[3], oh: oh, ow: ow, pads: p)
    }

    func convOutput(h: Int, w: Int, pads p: [Int]) -> (Int, Int) {
        ((h + p[0] + p[2] - dilH * (kh - 1) - 1) / strideH + 1, (w + p[1] + p[3] - dilW * (kw - 1) - 1) / strideW + 1)
    }

    /// 2×2 stride-2 max pool (floor), for a fused pool on the non-Winograd paths.
    static func maxPool2(_ x: Tensor, into shape: [Int], _ level: Kernels.Level) -> Tensor {
        var y = Tensor(uninitialized: shape)
        PoolLayer.maxPool2x2(level, x, into: &y)
        return y
    }
}

extension ConvLayer {
    func macs(inputs: [[Int]], outputs: [[Int]]) -> Int {
        // With a fused max pool the output is pooled: count the convolution's own outputs.
        guard inputs[0].count == 4 else { return 0 }
        let expansion = fusedExpand.map { $0.macs(inputs: [inputs[0]], outputs: []) } ?? 0
        let x = expandedShape(inputs[0])
        let (oh, ow) = convOutput(h: x[2], w: x[3], pads: pads(h: x[2], w: x[3]))
        return expansion + x[0] * outChannels * oh * ow * inChannelsPerGroup * kh * kw
    }
}

/// The GEMM form of a convolution for one geometry: its kernel taps (all of them, or the block that
/// reaches the input), the pads relative to that block, and the weights packed for those taps.
struct GemmTaps {
    let kh: Int, kw: Int, padT: Int, padL: Int
    let packed: [Float]
    let groupStride: Int
}

extension ConvLayer {
    /// Kernel positions t in 0..<k that read the input for at least one output o < out, i.e.
    /// 0 ≤ o·stride − pad + t·dil < size for some o: an interval; nil when empty.
    static func liveTaps(k: Int, dil: Int, stride: Int, pad: Int, size: Int, out: Int) -> ClosedRange<Int>? {
        var lo = 0, hi = k - 1
        while lo < k && lo * dil < pad - (out - 1) * stride { lo += 1 }
        while hi >= 0 && hi * dil > size - 1 + pad { hi -= 1 }
        return lo <= hi ? lo...hi : nil
    }

    /// The taps this geometry's GEMM runs over. Rows and columns of the kernel that only ever
    /// meet padding are left out (they multiply zeros): a 3×3 kernel padded by 1 on a 1×1 map
    /// needs its centre alone, and reading all nine taps' weights made Inception v3's 1×1-map
    /// layers at a 75×75 input memory-bound on weights it multiplied by zero. The trimmed weights
    /// are packed once per trimmed shape.
    func gemmTaps(_ g: ConvGeometry) -> GemmTaps {
        let full = GemmTaps(kh: kh, kw: kw, padT: g.pads[0], padL: g.pads[1], packed: packed, groupStride: packedGroupStride)
        guard let r = Self.liveTaps(k: kh, dil: dilH, stride: strideH, pad: g.pads[0], size: g.h, out: g.oh),
              let c = Self.liveTaps(k: kw, dil: dilW, stride: strideW, pad: g.pads[1], size: g.w, out: g.ow),
              r.count < kh || c.count < kw else { return full }
        let (packed, stride) = trimmedWeights(rows: r, cols: c)
        return GemmTaps(kh: r.count, kw: c.count, padT: g.pads[0] - r.lowerBound * dilH,
                        padL: g.pads[1] - c.lowerBound * dilW, packed: packed, groupStride: stride)
    }

    /// The weights of kernel rows `rows` and columns `cols`, packed per group (cached).
    private func trimmedWeights(rows: ClosedRange<Int>, cols: ClosedRange<Int>) -> ([Float], Int) {
        let key = [rows.lowerBound, rows.upperBound, cols.lowerBound, cols.upperBound]
        trimLock.lock(); defer { trimLock.unlock() }
        if let hit = trimmed[key] { return hit }
        let cg = inChannelsPerGroup
        var sub = [Float](); sub.reserveCapacity(outChannels * cg * rows.count * cols.count)
        for m in 0..<outChannels {
            for ci in 0..<cg {
                for ki in rows { for kj in cols { sub.append(weights[((m * cg + ci) * kh + ki) * kw + kj]) } }
            }
        }
        let hit = Self.packPerGroup(sub, rows: outChannels / groups, groups: groups)
        trimmed[key] = hit
        return hit
    }

    /// `w` ([groups × rows × K] row-major) packed for emo_gemm_packed one group at a time, and the
    /// floats between groups' packed blocks.
    static func packPerGroup(_ w: [Float], rows: Int, groups: Int) -> ([Float], Int) {
        let k = w.count / max(1, rows * groups)
        let stride = emo_pack_a_size(Int32(rows), Int32(k))
        var packed = [Float](repeating: 0, count: stride * groups)
        w.withUnsafeBufferPointer { wp in
            packed.withUnsafeMutableBufferPointer { p in
                for g in 0..<groups {
                    emo_pack_a(wp.baseAddress! + g * rows * k, Int32(rows), Int32(k), p.baseAddress! + g * stride)
                }
            }
        }
        return (packed, stride)
    }
}

/// A growable float buffer reused across runs; one slot of `ScratchPool`.
final class Scratch: @unchecked Sendable {
    struct Lease { let pointer: UnsafeMutablePointer<Float>; let slot: Scratch? }
    private let lock = NSLock()
    private var buffer: UnsafeMutablePointer<Float>?
    private var capacity = 0

    /// This buffer, grown to `n` floats, if no other caller holds it.
    func tryLease(_ n: Int) -> Lease? {
        guard lock.try() else { return nil }
        if capacity < n {
            buffer?.deallocate()
            buffer = .allocate(capacity: n)
            capacity = n
        }
        return Lease(pointer: buffer!, slot: self)
    }

    func unlock() { lock.unlock() }

    deinit { buffer?.deallocate() }
}

/// Scratch memory (im2col blocks, Winograd planes, padded planes) shared by every layer of every
/// model in the process: the first free slot is leased, so a single-threaded run uses one buffer
/// from layer to layer and it stays in cache. With one buffer per layer, each layer's workspace
/// had been evicted since the previous inference and its writes missed every cache level
/// (measured in the commit). More runs at once than slots: the extra callers get a private block.
final class ScratchPool: @unchecked Sendable {
    static let shared = ScratchPool(slots: 8)
    private let slots: [Scratch]

    init(slots: Int) { self.slots = (0..<max(1, slots)).map { _ in Scratch() } }

    func lease(_ count: Int) -> Scratch.Lease {
        let n = max(count, 1)
        for s in slots { if let l = s.tryLease(n) { return l } }
        return Scratch.Lease(pointer: .allocate(capacity: n), slot: nil)
    }

    func giveBack(_ l: Scratch.Lease) {
        if let s = l.slot { s.unlock() } else { l.pointer.deallocate() }
    }
}
