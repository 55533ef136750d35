/// Load-time evaluation of small constant subgraphs.
///
/// Exporters (PyTorch's in particular) emit shape arithmetic such as
/// ConstantOfShape → Concat → Reshape → Slice → Transpose → Cast to build the
/// `pads` of a Pad node. When every input of such a node is constant we evaluate
/// it once here, so the executable graph only contains real tensor work.
enum ConstantFolder {
    /// Saturating conversion (NaN → 0): constants come from untrusted files.
    static func toInt64(_ v: Double) -> Int64 {
        if v.isNaN { return 0 }
        if v >= 9.2e18 { return Int64.max }
        if v <= -9.2e18 { return Int64.min }
        return Int64(v)
    }

    static let foldable: Set<String> = ["ConstantOfShape", "Concat", "Reshape", "Slice", "Transpose", "Cast",
                                        "Unsqueeze", "Squeeze", "Gather", "Identity", "Add", "Sub", "Mul", "Div", "Neg"]

    /// Evaluates the node if it is foldable and all its inputs are constants; nil otherwise.
    static func fold(_ ctx: NodeContext, limit: Int) throws -> ConstTensor? {
        guard foldable.contains(ctx.op) else { return nil }
        let ins = ctx.inputs.filter { !$0.isEmpty }
        guard !ins.isEmpty || ctx.op == "ConstantOfShape", ins.allSatisfy({ ctx.constants[$0] != nil }) else { return nil }
        let c = ins.map { ctx.constants[$0]! }
        func ints(_ t: ConstTensor) -> [Int64] { t.ints ?? t.floats.map { toInt64(Double($0)) } }
        func make(_ shape: [Int], _ values: [Double], integer: Bool) throws -> ConstTensor {
            guard let n = ShapeMath.product(shape), n == values.count, n <= limit else { throw ctx.shapeError("constant folding produced an invalid shape \(shape)") }
            return ConstTensor(shape: shape, floats: values.map { Float($0) }, ints: integer ? values.map(toInt64) : nil)
        }
        func values(_ t: ConstTensor) -> [Double] { t.ints.map { $0.map(Double.init) } ?? t.floats.map(Double.init) }
        let isInt = c.first?.ints != nil

        switch ctx.op {
        case "Identity":
            return c[0]
        case "ConstantOfShape":
            let shape = try (c.first.map(ints) ?? []).map { v -> Int in
                guard let i = Int(exactly: v), i >= 0 else { throw ctx.shapeError("negative dim \(v)") }
                return i
            }
            var fill = 0.0, integer = false
            if case let .tensor(t)? = ctx.attributes["value"] { fill = values(t).first ?? 0; integer = t.ints != nil }
            guard let n = ShapeMath.product(shape), n <= limit else { throw InferenceError.tooLarge(what: "ConstantOfShape '\(ctx.name)'", elements: ShapeMath.product(shape) ?? Int.max, limit: limit) }
            return try make(shape, [Double](repeating: fill, count: n), integer: integer)
        case "Cast":
            let to = try ctx.int("to", default: 1)
            let v = values(c[0])
            switch to {
            case 6, 7: return try make(c[0].shape, v.map { $0.rounded(.towardZero) }, integer: true)
            case 1, 11: return try make(c[0].shape, v, integer: false)
            default: throw InferenceError.unsupportedDataType(tensor: ctx.outputs[0], dataType: to)
            }
        case "Neg":
            return try make(c[0].shape, values(c[0]).map { -$0 }, integer: isInt)
        case "Add", "Sub", "Mul", "Div":
            guard c.count == 2, let shape = ShapeMath.broadcast(c[0].shape, c[1].shape) else { throw ctx.shapeError("cannot broadcast constants") }
            let a = Broadcast.expand(Tensor(shape: c[0].shape, data: values(c[0]).map(Float.init)), to: shape)
            let b = Broadcast.expand(Tensor(shape: c[1].shape, data: values(c[1]).map(Float.init)), to: shape)
            let integer = isInt && c[1].ints != nil
            let out: [Double] = zip(a.data, b.data).map { x, y in
                let (x, y) = (Double(x), Double(y))
                switch ctx.op {
                case "Add": return x + y
                case "Sub": return x - y
                case "Mul": return x * y
                default: return integer ? (y == 0 ? 0 : (x / y).rounded(.down)) : x / y
                }
            }
            return try make(shape, out, integer: integer)
        case "Concat":
            let axis = try ctx.int("axis", default: 0)
            let layer = try ConcatLayer(ctx)
            let shape = try layer.outputShapes(c.map(\.shape))[0]
            _ = axis
            var ts = c.map { Tensor(shape: $0.shape, data: values($0).map(Float.init)) }
            let y = layer.forward(&ts, outputShapes: [shape], options: .default)[0]
            return try make(shape, y.data.map(Double.init), integer: isInt)
        case "Reshape":
            let layer = try ReshapeLayer(ctx)
            let shape = try layer.outputShapes([c[0].shape])[0]
            return try make(shape, values(c[0]), integer: isInt)
        case "Unsqueeze", "Squeeze":
            var axes: [Int] = try ctx.ints("axes") ?? []
            if axes.isEmpty, c.count > 1 { axes = ints(c[1]).map { Int($0) } }
            var shape = c[0].shape
            if ctx.op == "Unsqueeze" {
                let r = shape.count + axes.count
                for a in axes.map({ $0 < 0 ? $0 + r : $0 }).sorted() {
                    guard a >= 0 && a <= shape.count else { throw ctx.shapeError("axis \(a) out of range") }
                    shape.insert(1, at: a)
                }
            } else {
                let norm = Set(axes.map { $0 < 0 ? $0 + shape.count : $0 })
                shape = shape.enumerated().filter { norm.isEmpty ? $0.element != 1 : !norm.contains($0.offset) }.map(\.element)
            }
            return try make(shape, values(c[0]), integer: isInt)
        case "Gather":
            let axis = try ctx.int("axis", default: 0)
            guard c.count == 2, c[0].shape.count >= 1, let a = ShapeMath.normalizeAxis(axis, rank: c[0].shape.count) else { throw ctx.shapeError("bad Gather") }
            let idx = ints(c[1]).map { Int($0) }
            let n = c[0].shape[a]
            guard let total = ShapeMath.product(c[0].shape[..<a] + [idx.count] + c[0].shape[(a + 1)...]), total <= limit else {
                throw InferenceError.tooLarge(what: "Gather '\(ctx.name)'", elements: Int.max, limit: limit)
            }
            let outer = c[0].shape[..<a].reduce(1, *), inner = c[0].shape[(a + 1)...].reduce(1, *)
            let v = values(c[0])
            var out: [Double] = []
            for o in 0..<outer {
                for i in idx {
                    let j = i < 0 ? i + n : i
                    guard j >= 0 && j < n else { throw ctx.shapeError("Gather index \(i) out of range") }
                    out += v[((o * n + j) * inner)..<((o * n + j + 1) * inner)]
                }
            }
            var shape = c[0].shape
            shape.replaceSubrange(a...a, with: c[1].shape)
            return try make(shape, out, integer: isInt)
        case "Transpose":
            let r = c[0].shape.count
            let perm = try ctx.ints("perm") ?? Array((0..<r).reversed())
            guard perm.sorted() == Array(0..<r) else { throw ctx.shapeError("invalid perm \(perm)") }
            let inShape = c[0].shape
            let outShape = perm.map { inShape[$0] }
            var inStrides = [Int](repeating: 1, count: r)
            for d in stride(from: r - 2, through: 0, by: -1) { inStrides[d] = inStrides[d + 1] * inShape[d + 1] }
            let v = values(c[0])
            var out = [Double](); out.reserveCapacity(v.count)
            var idx = [Int](repeating: 0, count: r)
            for _ in 0..<v.count {
                var off = 0
                for d in 0..<r { off += idx[d] * inStrides[perm[d]] }
                out.append(v[off])
                var d = r - 1
                while d >= 0 { idx[d] += 1; if idx[d] < outShape[d] { break }; idx[d] = 0; d -= 1 }
            }
            return try make(outShape, out, integer: isInt)
        case "Slice":
            // opset ≥ 10: starts, ends, axes?, steps? as inputs; opset < 10: attributes.
            let r = c[0].shape.count
            var starts: [Int64], ends: [Int64], axes: [Int64], steps: [Int64]
            if c.count >= 3 {
                starts = ints(c[1]); ends = ints(c[2])
                axes = c.count > 3 ? ints(c[3]) : (0..<Int64(starts.count)).map { $0 }
                steps = c.count > 4 ? ints(c[4]) : [Int64](repeating: 1, count: starts.count)
            } else {
                starts = (try ctx.ints("starts") ?? []).map(Int64.init); ends = (try ctx.ints("ends") ?? []).map(Int64.init)
                axes = (try ctx.ints("axes") ?? Array(0..<starts.count)).map(Int64.init)
                steps = [Int64](repeating: 1, count: starts.count)
            }
            guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count else { throw ctx.shapeError("Slice argument lengths differ") }
            var lo = [Int](repeating: 0, count: r), st = [Int](repeating: 1, count: r), cnt = c[0].shape
            for k in 0..<starts.count {
                guard let a = ShapeMath.normalizeAxis(Int(clamping: axes[k]), rank: r), steps[k] != 0 else { throw ctx.shapeError("bad Slice axis/step") }
                let n = c[0].shape[a], step = Int(clamping: steps[k])
                func clampIndex(_ v: Int64, _ isEnd: Bool) -> Int {
                    var i = Int(clamping: v)
                    if i < 0 { i += n }
                    return step > 0 ? min(max(i, 0), n) : min(max(i, -1), n - 1)
                }
                let s = clampIndex(starts[k], false), e = clampIndex(ends[k], true)
                lo[a] = s; st[a] = step
                cnt[a] = step > 0 ? max(0, (e - s + step - 1) / step) : max(0, (s - e - step - 1) / (-step))
            }
            var inStrides = [Int](repeating: 1, count: r)
            for d in stride(from: r - 2, through: 0, by: -1) { inStrides[d] = inStrides[d + 1] * c[0].shape[d + 1] }
            let v = values(c[0])
            let total = cnt.reduce(1, *)
            var out = [Double](); out.reserveCapacity(total)
            var idx = [Int](repeating: 0, count: r)
            for _ in 0..<total {
                var off = 0
                for d in 0..<r { off += (lo[d] + idx[d] * st[d]) * inStrides[d] }
                out.append(v[off])
                var d = r - 1
                while d >= 0 { idx[d] += 1; if idx[d] < cnt[d] { break }; idx[d] = 0; d -= 1 }
            }
            return try make(cnt, out, integer: isInt)
        default:
            return nil
        }
    }
}
