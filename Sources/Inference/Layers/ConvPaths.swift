import Foundation
import CKernels

/// The ways a convolution can run. `ConvLayer.path(_:options:)` picks one per call; every
/// path computes the same function as `direct`, up to float rounding.
enum ConvPath: Hashable, CustomStringConvertible {
    /// Winograd F(2×2,3×3) on our SIMD kernels (CKernels/kernels.c).
    case winograd(Kernels.Level)
    /// Winograd F(4×4,3×3), AVX-512 only (CKernels/kernels.c, emo_w43_conv).
    case winogradF4
    /// Per image and group: im2col (skipped for 1×1 stride 1 unpadded) + our packed GEMM.
    case simdGemm(Kernels.Level)
    /// Per image and output row: a GEMM reading its B rows in place from the (padded) input, no
    /// im2col (AVX-512; few output channels at column stride 1, wide rows at column stride 2).
    case simdRows(Kernels.Level)
    /// Depthwise on our SIMD kernel (CKernels/depthwise.c).
    case simdDepthwise(Kernels.Level)
    /// A fused 1×1 expansion and the depthwise convolution after it, band by band (ExpandDepthwise.swift).
    case expandDepthwise(Kernels.Level)
    /// im2col over the whole batch (skipped for a single-image 1×1) + OpenBLAS sgemm.
    case blas
    /// The plain loop straight from the definition: the reference.
    case direct

    var isWinograd: Bool {
        switch self {
        case .winograd, .winogradF4: return true
        default: return false
        }
    }
    var isSimdGemm: Bool { if case .simdGemm = self { return true } else { return false } }
    /// Whether the path reads the input of a fused expansion (`ConvLayer.fusedExpand`) and expands it
    /// itself; on the others the expansion runs first, as its own convolution.
    var expandsItself: Bool { if case .expandDepthwise = self { return true } else { return false } }

    /// Whether the path adds a fused Add's residual in its own store (ConvEpilogue).
    var takesResidual: Bool {
        switch self {
        case .winograd, .winogradF4, .simdGemm, .simdRows: return true
        case .simdDepthwise, .expandDepthwise, .blas, .direct: return false
        }
    }

    var description: String {
        switch self {
        case let .winograd(l): return "winograd \(l.name)"
        case .winogradF4: return "winograd-f4 avx512"
        case let .simdGemm(l): return "gemm \(l.name)"
        case let .simdRows(l): return "rows \(l.name)"
        case let .simdDepthwise(l): return "depthwise \(l.name)"
        case let .expandDepthwise(l): return "expand+depthwise \(l.name)"
        case .blas: return "blas"
        case .direct: return "direct"
        }
    }
}

/// Shapes of one convolution run: batch, input channels and size, output size and the
/// pads (top, left, bottom, right) auto_pad resolved to.
struct ConvGeometry {
    let n, c, h, w, oh, ow: Int
    let pads: [Int]
}

/// What a path applies to each output before storing it, after the bias: a residual (the other
/// input of a fused Add, laid out like the output; only paths with `takesResidual` take one),
/// then the activation.
struct ConvEpilogue {
    var activation: FusedActivation
    var residual: UnsafePointer<Float>? = nil

    /// The activation as the C kernels take it: kind and its two parameters.
    var kernelActivation: (Int32, Float, Float) {
        switch activation {
        case .none: return (Int32(EMO_ACT_NONE), 0, 0)
        case .relu: return (Int32(EMO_ACT_RELU), 0, 0)
        case let .leakyRelu(a): return (Int32(EMO_ACT_LEAKY), a, 0)
        case let .clip(lo, hi): return (Int32(EMO_ACT_CLIP), lo, hi)
        }
    }
}

extension ConvLayer {
    /// 1×1, stride 1, unpadded: the input already is the GEMM's B matrix (no im2col).
    func isPointwise(_ g: ConvGeometry) -> Bool {
        kh == 1 && kw == 1 && strideH == 1 && strideW == 1 && g.pads.allSatisfy { $0 == 0 }
    }

    /// Floats of scratch the SIMD depthwise kernel needs (one padded plane).
    func depthwiseWorkspace(_ g: ConvGeometry) -> Int {
        emo_dw_workspace(Int32(kh), Int32(kw), Int32(strideH), Int32(strideW), Int32(dilH), Int32(dilW),
                         Int32(g.oh), Int32(g.ow))
    }

    // MARK: SIMD paths (Sources/CKernels)

    /// One Winograd convolution over the batch (small images side by side in its GEMMs, see
    /// emo_wino_conv), writing the NCHW output (pooled when a max pool is fused).
    func winogradConv(_ level: Kernels.Level, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                      _ g: ConvGeometry, _ ep: ConvEpilogue) {
        let lease = scratch.lease(emo_wino_workspace(Int32(outChannels), Int32(g.c), Int32(g.oh), Int32(g.ow), Int32(g.n)))
        defer { scratch.giveBack(lease) }
        let (act, p0, p1) = ep.kernelActivation
        winogradWeights.withUnsafeBufferPointer { up in
            bias.withUnsafeBufferPointer { bp in
                let rc = emo_wino_conv(level.rawValue, x, Int32(g.n), Int32(g.c), Int32(g.h), Int32(g.w), Int32(g.pads[0]),
                                       Int32(g.pads[1]), Int32(g.oh), Int32(g.ow), up.baseAddress!, Int32(outChannels),
                                       bp.baseAddress!, act, p0, p1, fusedMaxPool2 ? 1 : 0, ep.residual, out, lease.pointer)
                precondition(rc == 0, "emo_wino_conv rejected level \(level.name)")
            }
        }
    }

    /// Winograd F(4×4,3×3) over the batch, as `winogradConv` (AVX-512).
    func winogradF4Conv(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ g: ConvGeometry,
                        _ ep: ConvEpilogue) {
        let lease = scratch.lease(emo_w43_workspace(Int32(outChannels), Int32(g.c), Int32(g.oh), Int32(g.ow), Int32(g.n)))
        defer { scratch.giveBack(lease) }
        let (act, p0, p1) = ep.kernelActivation
        winogradF4Weights.withUnsafeBufferPointer { up in
            bias.withUnsafeBufferPointer { bp in
                let rc = emo_w43_conv(Kernels.Level.avx512.rawValue, x, Int32(g.n), Int32(g.c), Int32(g.h), Int32(g.w),
                                      Int32(g.pads[0]), Int32(g.pads[1]), Int32(g.oh), Int32(g.ow), up.baseAddress!,
                                      Int32(outChannels), bp.baseAddress!, act, p0, p1, fusedMaxPool2 ? 1 : 0, ep.residual,
                                      out, lease.pointer)
                precondition(rc == 0, "emo_w43_conv rejected the call")
            }
        }
    }

    /// Floats of one im2col block: a block of output rows is unfolded and multiplied while it is
    /// still in L2 (2 MiB per core here). Unfolding whole images first wrote, then re-read from
    /// L3, 5.9 MB for each 5×5 convolution of Inception v3 (35×35, K = 1200) and 7.4 MB for
    /// ResNet18's 7×7 conv1; measured in the commit that made this change.
    static let im2colBlockFloats = 256 * 1024

    /// Output rows per im2col block (equal blocks, so that no block is a sliver). Not blocked when
    /// the weights are the larger matrix (fewer pixels than output channels, e.g. Inception's
    /// 17×17 → 384 stride-2 layer): every block's GEMM streams all of them again.
    func im2colRows(_ g: ConvGeometry, k: Int) -> Int {
        let fit = max(1, Self.im2colBlockFloats / max(1, k * g.ow))
        if fit >= g.oh || g.oh * g.ow <= outChannels / groups { return g.oh }
        let blocks = (g.oh + fit - 1) / fit
        return (g.oh + blocks - 1) / blocks
    }

    /// Per image and group: one packed GEMM writing the NCHW output rows with bias and activation
    /// applied; its B matrix is the input itself for 1×1/stride 1/no pad, else im2col of a block of
    /// output rows at a time, over the kernel taps that can reach the input (`gemmTaps`).
    func simdGemmConv(_ level: Kernels.Level, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                      _ g: ConvGeometry, _ ep: ConvEpilogue) {
        let t = gemmTaps(g)
        if implicitIm2col(g, taps: t, level: level) { return simdGemmConvSame(x, out, g, t, ep) }
        if kBlocked(g, taps: t, level: level) { return simdGemmConvK(level, x, out, g, t, ep) }
        let ohw = g.oh * g.ow, hw = g.h * g.w
        let cg = inChannelsPerGroup, mg = outChannels / groups
        let k = cg * t.kh * t.kw
        let pointwise = isPointwise(g)
        let rows = pointwise ? g.oh : im2colRows(g, k: k)
        let lease = scratch.lease(pointwise ? 0 : k * rows * g.ow)
        defer { scratch.giveBack(lease) }
        let (act, p0, p1) = ep.kernelActivation
        t.packed.withUnsafeBufferPointer { ap in
            bias.withUnsafeBufferPointer { bp in
                for img in 0..<g.n {
                    for gi in 0..<groups {
                        let first = x + (img * g.c + gi * cg) * hw
                        let a = ap.baseAddress! + gi * t.groupStride, bias = bp.baseAddress! + gi * mg
                        let dst = out + (img * outChannels + gi * mg) * ohw
                        let res = ep.residual.map { $0 + (img * outChannels + gi * mg) * ohw }
                        var oy0 = 0
                        while oy0 < g.oh {
                            let oy1 = min(g.oh, oy0 + rows), n = (oy1 - oy0) * g.ow
                            var b = first
                            if !pointwise {
                                emo_im2col_rows(level.rawValue, first, Int32(cg), Int32(g.h), Int32(g.w), Int32(t.kh), Int32(t.kw),
                                                Int32(strideH), Int32(strideW), Int32(dilH), Int32(dilW), Int32(t.padT),
                                                Int32(t.padL), Int32(oy0), Int32(oy1), Int32(g.ow), lease.pointer)
                                b = UnsafePointer(lease.pointer)
                            }
                            let rc = emo_gemm_packed(level.rawValue, Int32(mg), Int32(n), Int32(k), a, b, Int32(pointwise ? ohw : n),
                                                     dst + oy0 * g.ow, Int32(ohw), bias, act, p0, p1, res.map { $0 + oy0 * g.ow })
                            precondition(rc == 0, "emo_gemm_packed rejected level \(level.name)")
                            oy0 = oy1
                        }
                    }
                }
            }
        }
    }

    /// Whether the SIMD GEMM path packs its panels straight from the input (`emo_conv_same`): stride
    /// 1, dilation 1 and output rows as wide as the input's, where each im2col row is one shifted run
    /// of an input plane, so the unfolded matrix need not be written and read back: Inception's 1×7
    /// layers 0.93× the K-blocked unfold (measurements at `conv_same512`). Flat rows keep the layers
    /// of fewer than 64 output channels (`implicitOverFlatChannels`).
    func implicitIm2col(_ g: ConvGeometry, level: Kernels.Level) -> Bool {
        implicitIm2col(g, taps: gemmTaps(g), level: level)
    }

    func implicitIm2col(_ g: ConvGeometry, taps t: GemmTaps, level: Kernels.Level) -> Bool {
        level == .avx512 && strideH == 1 && strideW == 1 && dilH == 1 && dilW == 1 && g.ow == g.w && !isPointwise(g)
            && inChannelsPerGroup * t.kh * t.kw >= Self.implicitMinK
            && emo_conv_same_fits(Int32(clamping: g.oh * g.ow), Int32(clamping: t.kw)) != 0 && g.oh * g.ow > 12
    }

    /// Rows of K from which implicit im2col pays: below, the GEMM reads the unfolded matrix in place
    /// (it packs panels only from K = 64), and packing from the input lost. C harness, medians of 300
    /// alternating calls, 32 output channels of 3×3 at 48²: K = 9 (the default model's first layer)
    /// 0.020 → 0.029 ms, K = 27 1.21×, K = 36 1.13×; K = 72 0.88×, K = 144 0.81×.
    static let implicitMinK = 64

    /// Per image and group: `emo_conv_same` (see `implicitIm2col`).
    func simdGemmConvSame(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ g: ConvGeometry,
                          _ t: GemmTaps, _ ep: ConvEpilogue) {
        let ohw = g.oh * g.ow, cg = inChannelsPerGroup, mg = outChannels / groups
        let (act, p0, p1) = ep.kernelActivation
        t.packed.withUnsafeBufferPointer { ap in
            bias.withUnsafeBufferPointer { bp in
                for img in 0..<g.n {
                    for gi in 0..<groups {
                        let first = x + (img * g.c + gi * cg) * g.h * g.w
                        let at = (img * outChannels + gi * mg) * ohw
                        let rc = emo_conv_same(Kernels.Level.avx512.rawValue, first, Int32(cg), Int32(g.h), Int32(g.w),
                                               Int32(t.kh), Int32(t.kw), Int32(t.padT), Int32(t.padL), Int32(g.oh),
                                               ap.baseAddress! + gi * t.groupStride, Int32(mg), out + at,
                                               bp.baseAddress! + gi * mg, act, p0, p1, ep.residual.map { $0 + at })
                        precondition(rc == 0, "emo_conv_same rejected \(g)")
                    }
                }
            }
        }
    }

    /// Rows of K per block of a K-blocked convolution: two K blocks of the GEMM kernel (GEMM_KC).
    static let kBlockRows = 256

    /// Whether the SIMD GEMM path unfolds `kBlockRows` rows of K over the whole output at a time
    /// (`simdGemmConvK`) instead of blocks of output rows over all of K: where the whole unfolded
    /// matrix would not fit one im2col block but a block of K over every output pixel does. Blocks
    /// of output rows cut N (Inception v3's 1×7 layers at 17×17, before they took `implicitIm2col`:
    /// 289 → 153 and 136 columns, a last panel of 9 or 40 of 48) and stream all the weights again per
    /// block; an unblocked unfold (Mixed_6a's 3×3/2, 288 → 384 channels: K = 2592 × 289 pixels,
    /// 3 MB) leaves L2.
    func kBlocked(_ g: ConvGeometry, level: Kernels.Level) -> Bool { kBlocked(g, taps: gemmTaps(g), level: level) }

    /// The same for taps already trimmed (`gemmTaps`), as the GEMM path has them.
    func kBlocked(_ g: ConvGeometry, taps t: GemmTaps, level: Kernels.Level) -> Bool {
        guard level == .avx512, groups == 1, strideW <= 2, !isPointwise(g) else { return false }
        let k = g.c * t.kh * t.kw, ohw = g.oh * g.ow
        return k > Self.kBlockRows && k * ohw > Self.im2colBlockFloats && Self.kBlockRows * ohw <= Self.im2colBlockFloats
    }

    /// Per image, per block of K: im2col of those rows for every output pixel (`emo_im2col_k`), then
    /// that block's GEMM accumulating into the output, bias, residual and activation on the last.
    func simdGemmConvK(_ level: Kernels.Level, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                       _ g: ConvGeometry, _ t: GemmTaps, _ ep: ConvEpilogue) {
        let ohw = g.oh * g.ow, k = g.c * t.kh * t.kw, kb = Self.kBlockRows
        let lease = scratch.lease(kb * ohw)
        defer { scratch.giveBack(lease) }
        let (act, p0, p1) = ep.kernelActivation
        t.packed.withUnsafeBufferPointer { ap in
            bias.withUnsafeBufferPointer { bp in
                for img in 0..<g.n {
                    let src = x + img * g.c * g.h * g.w, dst = out + img * outChannels * ohw
                    let res = ep.residual.map { $0 + img * outChannels * ohw }
                    for k0 in stride(from: 0, to: k, by: kb) {
                        let k1 = min(k, k0 + kb)
                        var rc = emo_im2col_k(level.rawValue, src, Int32(g.c), Int32(g.h), Int32(g.w), Int32(t.kh), Int32(t.kw),
                                              Int32(strideH), Int32(strideW), Int32(dilH), Int32(dilW), Int32(t.padT),
                                              Int32(t.padL), Int32(k0), Int32(k1), 0, Int32(g.oh), Int32(g.ow), lease.pointer)
                        precondition(rc == 0, "emo_im2col_k rejected level \(level.name) or stride \(strideW)")
                        rc = emo_gemm_packed_k(level.rawValue, Int32(outChannels), Int32(ohw), Int32(k), Int32(k0), Int32(k1),
                                               ap.baseAddress!, lease.pointer, Int32(ohw), dst, Int32(ohw), bp.baseAddress!,
                                               act, p0, p1, res)
                        precondition(rc == 0, "emo_gemm_packed_k rejected level \(level.name)")
                    }
                }
            }
        }
    }

    /// Whether a convolution runs by rows (`simdRows`): where im2col would cost about as much as the
    /// GEMM, i.e. few output channels (each unfolded value feeds only M multiply-adds), and rows of
    /// at least one vector. mini-Xception's 8 → 8 stem (44² output): 35 → 23 µs, its 1 → 8 layer
    /// 6.7 → 6.0 µs; FER4's 1 → 32 first layer was no faster (25 against 24 µs), hence ≤ 16
    /// channels (`bench inference --profile`, medians of 1000 runs, alternating builds).
    /// At column stride 2 (the planes split into even and odd columns first), rows of at least
    /// three vectors and any number of channels: ResNet18's 7×7/2 conv1 2.4–3.1 → 1.9–2.05 ms (three
    /// alternating profiles); the 3×3/2 stems of MobileNetV2 (0.33–0.48 against 0.35–0.48 ms) and
    /// Inception v3 did not move beyond the host's noise.
    /// Flattened (`rowsFlat`), on maps of `flatMinPixels` and more: the unfolded K·oh·ow floats are
    /// neither written nor re-read, and B's rows overlap in L1. Inside
    /// Inception v3 (`--profile`, best of five alternating runs per layer) its 7×1 layers at
    /// 17² (289 pixels) took 2–8 % less (128 → 128: 0.545 → 0.503 ms, 192 → 192: 1.137 → 1.102);
    /// its 3×1 layers at 8² (64 pixels, 384 → 384, weights cold) 9–13 % more (0.435 → 0.481 ms),
    /// though 19 % less in a C harness with hot weights.
    /// Over planes wider than the output (`flatPadColumns` > 0), Inception's 5×5 48 → 64 layers at
    /// 35² (39 columns per 35) took 1.37–1.43 ms against 1.65–1.71 on im2col + GEMM (C harness, min
    /// and median of 100, weights cycled through eight copies); in the net 1.40–1.43 against 1.71
    /// (`--profile` as above).
    func rowsPay(_ g: ConvGeometry) -> Bool {
        guard groups == 1, !isDepthwise, !isPointwise(g) else { return false }
        // flat rows give way to implicit im2col from `implicitOverFlatChannels` on
        let flat = rowsFlat(g) && !(outChannels >= Self.implicitOverFlatChannels && implicitIm2col(g, level: .avx512))
        guard flat || (strideW == 1 && outChannels <= 16 && g.ow >= 16) || (strideW == 2 && g.ow >= 48) else { return false }
        let t = gemmTaps(g)
        let (ph, pw) = rowsPlane(g)
        return t.kh == kh && t.kw == kw && 2 * g.c * ph * pw <= LayerLimits.maxPaddedPlane
    }

    /// Output channels from which implicit im2col (`implicitIm2col`) beats a flat convolution by rows
    /// where both apply: its packed panels pay once enough 8-row tiles reuse them. C harness, medians
    /// of 200–300 alternating calls, flat → implicit: 40 → 20 at 17² (7×1) 0.031 → 0.036 ms, 8 → 20
    /// at 33² (5×5) 0.138 → 0.158; 64 → 32 (7×1) and 32 → 48 (5×5 at 35²) level; Inception's 48 → 64
    /// at 35² (5×5) 2.21 → 2.04, 192 → 192 at 17² (7×1) 1.07 → 1.02 ms.
    static let implicitOverFlatChannels = 64

    /// Pixels from which a flat convolution pays: measured a gain at 289 (17²), a loss at 64 (8²).
    static let flatMinPixels = 256

    /// Whether the rows path treats each output plane as a single row. At stride 1, output pixel
    /// (oy, ox) of tap (ki, kj) reads float (oy + ki·dilH)·pw + ox + kj·dilW of its padded plane:
    /// with p = oy·pw + ox, float p + (ki·dilH·pw + kj·dilW) — whole planes are contiguous rows of B
    /// read in place, one GEMM over every pixel, where im2col + GEMM unfolded them first. Where the
    /// plane is wider than the output (kw > 1), each row's last pw − ow results are thrown away and
    /// the rest copied out (`emo_flat_to_planes`): taken while those columns are at most an eighth of
    /// the output's (a 5×5 kernel on 35²: 4 of 35). Above 16 output channels (fewer run row by row)
    /// and from K = 64 on, where the copy is small beside the GEMM — a 3×3 layer of 32 channels at
    /// 48² (C harness, medians of 1000–2000): 1 input channel 0.019 → 0.031 ms, 3 channels (at 64²)
    /// 0.109 → 0.114, 8 channels 0.117 → 0.101, 16 channels 0.226 → 0.175; no layer below those
    /// bounds was measured flat, so none is taken.
    func rowsFlat(_ g: ConvGeometry) -> Bool {
        guard strideH == 1, strideW == 1, g.oh * g.ow >= Self.flatMinPixels else { return false }
        guard outChannels > 16, inChannelsPerGroup * kh * kw >= 64 else { return false }
        return 8 * flatPadColumns(g) <= g.ow
    }

    /// Columns of each flat output row past the output's (pw − ow).
    func flatPadColumns(_ g: ConvGeometry) -> Int { rowsPlane(g).1 - g.ow }

    /// The padded input planes `simdRows` reads: every tap of every output inside.
    func rowsPlane(_ g: ConvGeometry) -> (Int, Int) {
        ((g.oh - 1) * strideH + (kh - 1) * dilH + 1, (g.ow - 1) * strideW + (kw - 1) * dilW + 1)
    }

    /// By rows (`emo_conv_rows`): the input itself when unpadded, else a zero-padded copy per image;
    /// at column stride 2 the kernel pads and splits the input's columns itself, in one pass; a flat
    /// convolution (`rowsFlat`) is one output row of oh·ow pixels.
    func simdRowsConv(_ level: Kernels.Level, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                      _ g: ConvGeometry, _ ep: ConvEpilogue) {
        let (ph, pw) = rowsPlane(g)
        let split = strideW == 2, flat = rowsFlat(g)
        let padded = !split && (g.pads[0] > 0 || g.pads[1] > 0 || ph > g.h || pw > g.w)
        let scratchCount = split ? 2 * g.c * ph * ((pw + 1) / 2) : padded ? g.c * ph * pw : 0
        // A flat run over planes wider than the output: its rows first (n floats each), then the cut.
        let wide = flat && pw > g.ow, n = (g.oh - 1) * pw + g.ow
        let lease = scratch.lease(scratchCount), rowsLease = scratch.lease(wide ? outChannels * n : 0)
        defer { scratch.giveBack(rowsLease); scratch.giveBack(lease) }
        var off = [Int32](repeating: 0, count: g.c * kh * kw)
        let (act, p0, p1) = ep.kernelActivation
        let ohw = g.oh * g.ow
        packed.withUnsafeBufferPointer { ap in
            bias.withUnsafeBufferPointer { bp in
                for img in 0..<g.n {
                    var xp = x + img * g.c * g.h * g.w, h = g.h, w = g.w
                    if padded {
                        Self.pad(xp, planes: g.c, h: g.h, w: g.w, top: g.pads[0], left: g.pads[1], into: lease.pointer, ph: ph, pw: pw)
                        xp = UnsafePointer(lease.pointer); h = ph; w = pw
                    }
                    let o = out + img * outChannels * ohw, res = ep.residual.map { $0 + img * outChannels * ohw }
                    // A flat run over planes wider than the output writes its rows to scratch and the
                    // cut adds the residual, so the GEMM applies no activation then.
                    let cut = wide && res != nil
                    let rc = split
                        ? emo_conv_rows_s2(level.rawValue, xp, Int32(g.c), Int32(h), Int32(w), Int32(g.pads[0]), Int32(g.pads[1]),
                                           Int32(ph), Int32(pw), Int32(kh), Int32(kw), Int32(strideH), Int32(dilH), Int32(dilW),
                                           Int32(g.oh), Int32(g.ow), ap.baseAddress!, Int32(outChannels), o, bp.baseAddress!,
                                           act, p0, p1, res, &off, lease.pointer)
                        : emo_conv_rows(level.rawValue, xp, Int32(g.c), Int32(h), Int32(w), Int32(kh), Int32(kw), Int32(strideH),
                                        Int32(dilH), Int32(dilW), Int32(flat ? 1 : g.oh), Int32(flat ? n : g.ow),
                                        ap.baseAddress!, Int32(outChannels), wide ? rowsLease.pointer : o, bp.baseAddress!,
                                        cut ? Int32(EMO_ACT_NONE) : act, p0, p1, wide ? nil : res, &off)
                    precondition(rc == 0, "emo_conv_rows rejected level \(level.name) or its planes")
                    if wide {
                        emo_flat_to_planes(rowsLease.pointer, Int32(outChannels), Int32(n), Int32(g.oh), Int32(g.ow), Int32(pw), o,
                                           res, cut ? act : Int32(EMO_ACT_NONE), p0, p1)
                    }
                }
            }
        }
    }

    /// `planes` h×w planes into ph×pw ones at (top, left), zeros around (and where ph×pw cuts the
    /// input short, the input is cut: those values are never read).
    static func pad(_ x: UnsafePointer<Float>, planes: Int, h: Int, w: Int, top: Int, left: Int,
                    into dst: UnsafeMutablePointer<Float>, ph: Int, pw: Int) {
        dst.initialize(repeating: 0, count: planes * ph * pw)
        let rows = max(0, min(h, ph - top)), cols = max(0, min(w, pw - left))
        guard rows > 0, cols > 0 else { return }
        for p in 0..<planes {
            for y in 0..<rows { (dst + (p * ph + top + y) * pw + left).update(from: x + (p * h + y) * w, count: cols) }
        }
    }

    /// Depthwise on the SIMD kernel, one image at a time (each image one band of all its rows).
    func simdDepthwise(_ level: Kernels.Level, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                       _ g: ConvGeometry, _ activation: FusedActivation) {
        let lease = scratch.lease(depthwiseWorkspace(g))
        defer { scratch.giveBack(lease) }
        for img in 0..<g.n {
            depthwiseBand(level, x + img * g.c * g.h * g.w, g, rows: g.h, padT: g.pads[0], 0..<g.oh,
                          out + img * g.c * g.oh * g.ow, lease.pointer, activation)
        }
    }

    // MARK: OpenBLAS path

    /// im2col over the whole batch, one OpenBLAS sgemm per group, then bias and activation.
    func blasConv(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ g: ConvGeometry,
                  _ activation: FusedActivation) {
        weights.withUnsafeBufferPointer { wp in
            // Single image, single group, 1×1: the input already is the [K × HW] matrix and
            // the output the [M × HW] matrix; write straight into the output.
            if isPointwise(g) && g.n == 1 && groups == 1 {
                let ohw = g.oh * g.ow
                BLAS.sgemm(m: outChannels, n: ohw, k: inChannelsPerGroup, a: wp.baseAddress!, lda: inChannelsPerGroup,
                           b: x, ldb: ohw, c: out, ldc: ohw)
                addBiasAndActivate(out, rows: outChannels, firstChannel: 0, count: ohw, activation)
                return
            }
            blasIm2colConv(x, wp.baseAddress!, out, g, activation)
        }
    }

    /// Rows of `count` outputs of consecutive channels from `firstChannel`: += bias, then activation.
    private func addBiasAndActivate(_ out: UnsafeMutablePointer<Float>, rows: Int, firstChannel: Int, count: Int,
                                    _ activation: FusedActivation) {
        for m in 0..<rows {
            let row = out + m * count
            let b = bias[firstChannel + m]
            for i in 0..<count { row[i] += b }
            activation.apply(row, count: count)
        }
    }

    private func blasIm2colConv(_ x: UnsafePointer<Float>, _ wt: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                                _ g: ConvGeometry, _ activation: FusedActivation) {
        let ohw = g.oh * g.ow
        let mg = outChannels / groups, k = inChannelsPerGroup * kh * kw
        let cols = g.n * ohw
        let col = UnsafeMutablePointer<Float>.allocate(capacity: k * cols)
        defer { col.deallocate() }
        // With one image the GEMM result already is the NCHW output (rows = channels).
        let direct = g.n == 1
        let tmp = direct ? out : UnsafeMutablePointer<Float>.allocate(capacity: mg * cols)
        defer { if !direct { tmp.deallocate() } }
        for gi in 0..<groups {
            im2col(x, group: gi, into: col, g)
            if direct {
                let o = out + gi * mg * ohw
                BLAS.sgemm(m: mg, n: cols, k: k, a: wt + gi * mg * k, lda: k, b: col, ldb: cols, c: o, ldc: cols)
                addBiasAndActivate(o, rows: mg, firstChannel: gi * mg, count: ohw, activation)
                continue
            }
            BLAS.sgemm(m: mg, n: cols, k: k, a: wt + gi * mg * k, lda: k, b: col, ldb: cols, c: tmp, ldc: cols)
            scatter(tmp, into: out, group: gi, g, activation)
        }
    }

    /// [mg × (n·ohw)] GEMM result of one group into NCHW, with bias and fused activation.
    private func scatter(_ tmp: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, group gi: Int,
                         _ g: ConvGeometry, _ activation: FusedActivation) {
        let ohw = g.oh * g.ow, mg = outChannels / groups, cols = g.n * ohw
        for m in 0..<mg {
            let oc = gi * mg + m
            let b = bias[oc]
            for img in 0..<g.n {
                let src = tmp + m * cols + img * ohw
                let dst = out + (img * outChannels + oc) * ohw
                for i in 0..<ohw { dst[i] = src[i] + b }
                activation.apply(dst, count: ohw)
            }
        }
    }

    /// im2col of one group over the batch: row r = (ci, ki, kj), column = img · ohw + oy · ow + ox.
    private func im2col(_ x: UnsafePointer<Float>, group gi: Int, into col: UnsafeMutablePointer<Float>,
                        _ g: ConvGeometry) {
        let cg = inChannelsPerGroup, ohw = g.oh * g.ow, cols = g.n * ohw
        for ci in 0..<cg {
            let chan = gi * cg + ci
            for ki in 0..<kh {
                for kj in 0..<kw {
                    let rowp = col + ((ci * kh + ki) * kw + kj) * cols
                    for img in 0..<g.n {
                        im2colRow(x + (img * g.c + chan) * g.h * g.w, rowp + img * ohw, g, ki: ki, kj: kj)
                    }
                }
            }
        }
    }

    @inline(__always)
    private func im2colRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ g: ConvGeometry,
                           ki: Int, kj: Int) {
        let h = g.h, w = g.w, oh = g.oh, ow = g.ow
        // Valid ox range where 0 <= ox*sw - padL + kj*dw < w.
        let offX = kj * dilW - g.pads[1]
        var oxLo = 0
        if offX < 0 { oxLo = (-offX + strideW - 1) / strideW }
        var oxHi = ow // exclusive
        if w - 1 - offX < 0 { oxHi = 0 } else { oxHi = min(ow, (w - 1 - offX) / strideW + 1) }
        if oxLo > oxHi { oxLo = oxHi }
        for oy in 0..<oh {
            let iy = oy * strideH - g.pads[0] + ki * dilH
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

    // MARK: plain reference

    /// The plain reference: each output straight from the definition of a convolution (no
    /// im2col, no BLAS, no SIMD). Every other path is tested against it; for depthwise layers it
    /// is also the path without SIMD kernels (and for geometries too big for their padded planes).
    func directConv(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ g: ConvGeometry,
                    _ activation: FusedActivation) {
        let cg = inChannelsPerGroup, mg = outChannels / groups
        weights.withUnsafeBufferPointer { wp in
            if isDepthwise { return directDepthwise(x, wp.baseAddress!, out, g, activation) }
            for img in 0..<g.n {
                for m in 0..<outChannels {
                    // First input channel of m's group, m's filter, m's output plane.
                    directPlane(x + (img * g.c + m / mg * cg) * g.h * g.w, wp.baseAddress! + m * cg * kh * kw,
                                out + (img * outChannels + m) * g.oh * g.ow, bias: bias[m], g, activation)
                }
            }
        }
    }

    /// One output plane: bias plus each window's sum over the group's input channels (padding
    /// reads as zero), then the activation.
    private func directPlane(_ src: UnsafePointer<Float>, _ filter: UnsafePointer<Float>,
                             _ dst: UnsafeMutablePointer<Float>, bias b: Float, _ g: ConvGeometry,
                             _ act: FusedActivation) {
        let h = g.h, w = g.w, padT = g.pads[0], padL = g.pads[1], cg = inChannelsPerGroup
        for oy in 0..<g.oh {
            let iy0 = oy * strideH - padT
            let drow = dst + oy * g.ow
            for ox in 0..<g.ow {
                let ix0 = ox * strideW - padL
                var acc = b
                for ci in 0..<cg {
                    let plane = src + ci * h * w, k = filter + ci * kh * kw
                    for ki in 0..<kh {
                        let iy = iy0 + ki * dilH
                        if iy < 0 || iy >= h { continue }
                        let srow = plane + iy * w, krow = k + ki * kw
                        for kj in 0..<kw {
                            let ix = ix0 + kj * dilW
                            if ix >= 0 && ix < w { acc += srow[ix] * krow[kj] }
                        }
                    }
                }
                drow[ox] = act.apply(acc)
            }
        }
    }

    /// `directPlane` for one input channel per output, without the loop over channels: MobileNetV2's
    /// depthwise layers run here when there are no SIMD kernels.
    /// (Its loops are kept out of closures: values a closure captures are reloaded after every
    /// store through a pointer, ~10 % on these layers.)
    private func directDepthwise(_ x: UnsafePointer<Float>, _ wt: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                                 _ g: ConvGeometry, _ act: FusedActivation) {
        let h = g.h, w = g.w, oh = g.oh, ow = g.ow, padT = g.pads[0], padL = g.pads[1]
        for plane in 0..<(g.n * g.c) {
            let ch = plane % g.c
            let src = x + plane * h * w, dst = out + plane * oh * ow, k = wt + ch * kh * kw
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
                        let srow = src + iy * w, krow = k + ki * kw
                        for kj in 0..<kw {
                            let ix = ix0 + kj * dilW
                            if ix >= 0 && ix < w { acc += srow[ix] * krow[kj] }
                        }
                    }
                    drow[ox] = act.apply(acc)
                }
            }
        }
    }
}
