/// Pad: constant, reflect or edge mode; pads from the attribute (opset < 11) or a
/// constant input (opset ≥ 11). Negative pads (cropping) are not supported.
final class PadLayer: Layer {
    enum Mode: String { case constant, reflect, edge }
    let name: String
    let pads: [Int]   // [b0, b1, ..., e0, e1, ...]
    let mode: Mode
    let value: Float

    init(_ ctx: NodeContext) throws {
        name = ctx.name
        try ctx.requireInputs(1)
        guard let m = Mode(rawValue: try ctx.string("mode", default: "constant")) else {
            throw ctx.attrError("mode", "must be constant, reflect or edge")
        }
        mode = m
        if let p = try ctx.ints("pads") {
            pads = p
            value = try ctx.float("value", default: 0)
        } else {
            let c = try ctx.constant(1)
            guard let ints = c.ints else { throw ctx.shapeError("pads must be an int64 constant") }
            pads = try ints.map { v in
                guard let i = Int(exactly: v), abs(i) < 1 << 20 else { throw ctx.shapeError("pad \(v) out of range") }
                return i
            }
            value = try ctx.optionalConstant(2)?.floats.first ?? 0
            if ctx.input(3) != nil { throw InferenceError.unsupportedAttribute(node: ctx.name, op: "Pad", detail: "axes input") }
        }
        guard pads.allSatisfy({ $0 >= 0 }) else { throw InferenceError.unsupportedAttribute(node: ctx.name, op: "Pad", detail: "negative pads") }
    }

    func outputShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        let x = inputs[0]
        guard pads.count == 2 * x.count else { throw InferenceError.shapeMismatch(node: name, detail: "\(pads.count) pads for rank \(x.count)") }
        var out = x
        for i in 0..<x.count {
            out[i] = x[i] + pads[i] + pads[i + x.count]
            if mode == .reflect && (pads[i] >= x[i] || pads[i + x.count] >= x[i]) && (pads[i] > 0 || pads[i + x.count] > 0) {
                throw InferenceError.shapeMismatch(node: name, detail: "reflect pad larger than dim \(i) of \(x)")
            }
            if mode == .edge && x[i] == 0 && out[i] > 0 { throw InferenceError.shapeMismatch(node: name, detail: "edge pad of an empty dim") }
        }
        return [out]
    }

    func forward(_ inputs: inout [Tensor], outputShapes: [[Int]], options: InferenceOptions) -> [Tensor] {
        let x = inputs[0]
        let os = outputShapes[0]
        let r = x.rank
        var y = Tensor(uninitialized: os)
        // Map each output coordinate to an input coordinate (or none, for constant padding).
        func source(_ o: Int, dim d: Int) -> Int? {
            let i = o - pads[d], n = x.shape[d]
            if i >= 0 && i < n { return i }
            switch mode {
            case .constant: return nil
            case .edge: return i < 0 ? 0 : n - 1
            case .reflect:
                if n == 1 { return 0 }
                var j = i
                let period = 2 * (n - 1)
                j = ((j % period) + period) % period
                return j < n ? j : period - j
            }
        }
        var inStrides = [Int](repeating: 1, count: r)
        for d in stride(from: r - 2, through: 0, by: -1) { inStrides[d] = inStrides[d + 1] * x.shape[d + 1] }
        // Precompute per-dimension source indices (or -1).
        let maps: [[Int]] = (0..<r).map { d in (0..<os[d]).map { source($0, dim: d) ?? -1 } }
        let total = y.count
        var idx = [Int](repeating: 0, count: r)
        x.data.withUnsafeBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                for o in 0..<total {
                    var off = 0
                    var inside = true
                    for d in 0..<r {
                        let s = maps[d][idx[d]]
                        if s < 0 { inside = false; break }
                        off += s * inStrides[d]
                    }
                    yp[o] = inside ? xp[off] : value
                    var d = r - 1
                    while d >= 0 {
                        idx[d] += 1
                        if idx[d] < os[d] { break }
                        idx[d] = 0
                        d -= 1
                    }
                }
            }
        }
        return [y]
    }
}
