import Foundation
internal import ONNXProto
internal import CProtobufC

/// Serializes the ``Model`` IR back into the ONNX protobuf format (via protobuf-c).
public enum ModelWriter {
    /// The model as `.onnx` bytes. Initializers are stored inline (raw_data).
    public static func encode(_ model: Model) throws -> [UInt8] {
        let arena = CArena()
        let p = arena.allocate(Onnx__ModelProto.self)
        onnx__model_proto__init(p)
        p.pointee.has_ir_version = 1
        p.pointee.ir_version = Int64(model.irVersion)
        p.pointee.producer_name = arena.cString(model.producerName)
        p.pointee.producer_version = arena.cString(model.producerVersion)
        p.pointee.domain = arena.cString(model.domain)
        p.pointee.has_model_version = 1
        p.pointee.model_version = Int64(model.modelVersion)
        p.pointee.doc_string = arena.cString(model.docString)
        let opsets = arena.opsets(model.opsetImports)
        p.pointee.n_opset_import = opsets.count
        p.pointee.opset_import = arena.pointers(opsets)
        let metadata = model.metadata.sorted { $0.key < $1.key }.map { arena.entry($0.key, $0.value) }
        p.pointee.n_metadata_props = metadata.count
        p.pointee.metadata_props = arena.pointers(metadata)
        p.pointee.graph = try arena.graph(model.graph)
        let functions = try model.functions.map { try arena.function($0) }
        p.pointee.n_functions = functions.count
        p.pointee.functions = arena.pointers(functions)
        let size = onnx__model_proto__get_packed_size(p)
        var out = [UInt8](repeating: 0, count: size)
        out.withUnsafeMutableBufferPointer { _ = onnx__model_proto__pack(p, $0.baseAddress) }
        return out
    }

    /// Writes the model to `url`.
    public static func write(_ model: Model, to url: URL) throws {
        let bytes = try encode(model)
        do {
            try Data(bytes).write(to: url)
        } catch {
            throw ONNXRunError(.io, "cannot write model: \(ModelLoader.reason(error))", subject: url.path)
        }
    }
}

extension CArena {
    /// OperatorSetIdProto messages for opset imports, sorted by domain.
    func opsets(_ imports: [String: Int]) -> [UnsafeMutablePointer<Onnx__OperatorSetIdProto>] {
        imports.sorted { $0.key < $1.key }.map { domain, version in
            let o = allocate(Onnx__OperatorSetIdProto.self)
            onnx__operator_set_id_proto__init(o)
            o.pointee.domain = cString(domain)
            o.pointee.has_version = 1
            o.pointee.version = Int64(version)
            return o
        }
    }

    func entry(_ key: String, _ value: String) -> UnsafeMutablePointer<Onnx__StringStringEntryProto> {
        let e = allocate(Onnx__StringStringEntryProto.self)
        onnx__string_string_entry_proto__init(e)
        e.pointee.key = cString(key)
        e.pointee.value = cString(value)
        return e
    }

    func stringArray(_ items: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
        let p = allocate(UnsafeMutablePointer<CChar>?.self, count: items.count)
        for (i, s) in items.enumerated() { p[i] = cString(s) }
        return p
    }

    func graph(_ g: Graph) throws -> UnsafeMutablePointer<Onnx__GraphProto> {
        let p = allocate(Onnx__GraphProto.self)
        onnx__graph_proto__init(p)
        p.pointee.name = cString(g.name)
        p.pointee.doc_string = cString(g.docString)
        let nodes = try g.nodes.map { try node($0) }
        p.pointee.n_node = nodes.count
        p.pointee.node = pointers(nodes)
        let initializers = try g.initializers.sorted { $0.key < $1.key }.map { try tensor($0.value, name: $0.key) }
        p.pointee.n_initializer = initializers.count
        p.pointee.initializer = pointers(initializers)
        let inputs = g.inputs.map(valueInfo), outputs = g.outputs.map(valueInfo), infos = g.valueInfo.map(valueInfo)
        p.pointee.n_input = inputs.count
        p.pointee.input = pointers(inputs)
        p.pointee.n_output = outputs.count
        p.pointee.output = pointers(outputs)
        p.pointee.n_value_info = infos.count
        p.pointee.value_info = pointers(infos)
        return p
    }

    func node(_ n: Node) throws -> UnsafeMutablePointer<Onnx__NodeProto> {
        let p = allocate(Onnx__NodeProto.self)
        onnx__node_proto__init(p)
        p.pointee.name = cString(n.name)
        p.pointee.op_type = cString(n.opType)
        p.pointee.domain = cString(n.domain)
        p.pointee.doc_string = cString(n.docString)
        p.pointee.n_input = n.inputs.count
        p.pointee.input = stringArray(n.inputs)
        p.pointee.n_output = n.outputs.count
        p.pointee.output = stringArray(n.outputs)
        let attributes = try n.attributes.sorted { $0.key < $1.key }.map { try attribute($0.key, $0.value) }
        p.pointee.n_attribute = attributes.count
        p.pointee.attribute = pointers(attributes)
        return p
    }

    func attribute(_ name: String, _ value: Attribute) throws -> UnsafeMutablePointer<Onnx__AttributeProto> {
        let p = allocate(Onnx__AttributeProto.self)
        onnx__attribute_proto__init(p)
        p.pointee.name = cString(name)
        p.pointee.has_type = 1
        switch value {
        case .float(let f):
            p.pointee.type = 1
            p.pointee.has_f = 1
            p.pointee.f = f
        case .int(let i):
            p.pointee.type = 2
            p.pointee.has_i = 1
            p.pointee.i = Int64(i)
        case .string(let s):
            p.pointee.type = 3
            p.pointee.has_s = 1
            p.pointee.s = binary(s)
        case .tensor(let t):
            p.pointee.type = 4
            p.pointee.t = try tensor(t, name: "")
        case .graph(let g):
            p.pointee.type = 5
            p.pointee.g = try graph(g)
        case .floats(let fs):
            p.pointee.type = 6
            let buffer = allocate(Float.self, count: fs.count)
            for (i, f) in fs.enumerated() { buffer[i] = f }
            p.pointee.n_floats = fs.count
            p.pointee.floats = buffer
        case .ints(let values):
            p.pointee.type = 7
            let buffer = allocate(Int64.self, count: values.count)
            for (i, v) in values.enumerated() { buffer[i] = Int64(v) }
            p.pointee.n_ints = values.count
            p.pointee.ints = buffer
        case .strings(let ss):
            p.pointee.type = 8
            let buffer = allocate(ProtobufCBinaryData.self, count: ss.count)
            for (i, s) in ss.enumerated() { buffer[i] = binary(s) }
            p.pointee.n_strings = ss.count
            p.pointee.strings = buffer
        case .tensors(let ts):
            p.pointee.type = 9
            let items = try ts.map { try tensor($0, name: "") }
            p.pointee.n_tensors = items.count
            p.pointee.tensors = pointers(items)
        case .graphs(let gs):
            p.pointee.type = 10
            let items = try gs.map { try graph($0) }
            p.pointee.n_graphs = items.count
            p.pointee.graphs = pointers(items)
        case .type(let t):
            p.pointee.type = 13
            p.pointee.tp = type(t)
        case .types(let ts):
            p.pointee.type = 14
            let items = ts.map { type($0) }
            p.pointee.n_type_protos = items.count
            p.pointee.type_protos = pointers(items)
        case .reference(let ref):
            p.pointee.has_type = 0
            p.pointee.ref_attr_name = cString(ref)
        }
        return p
    }

    func valueInfo(_ v: ValueInfo) -> UnsafeMutablePointer<Onnx__ValueInfoProto> {
        let p = allocate(Onnx__ValueInfoProto.self)
        onnx__value_info_proto__init(p)
        p.pointee.name = cString(v.name)
        p.pointee.doc_string = cString(v.docString)
        if let t = v.type { p.pointee.type = type(t) }
        return p
    }

    func shape(_ dims: [Dimension]) -> UnsafeMutablePointer<Onnx__TensorShapeProto> {
        let s = allocate(Onnx__TensorShapeProto.self)
        onnx__tensor_shape_proto__init(s)
        let items = dims.map { d in
            let p = allocate(Onnx__TensorShapeProto__Dimension.self)
            onnx__tensor_shape_proto__dimension__init(p)
            switch d {
            case .known(let v):
                p.pointee.value_case = Onnx__TensorShapeProto__Dimension__ValueCase(rawValue: 1)
                p.pointee.dim_value = Int64(v)
            case .symbolic(let name):
                p.pointee.value_case = Onnx__TensorShapeProto__Dimension__ValueCase(rawValue: 2)
                p.pointee.dim_param = cString(name)
            case .unknown: break
            }
            return p
        }
        s.pointee.n_dim = items.count
        s.pointee.dim = pointers(items)
        return s
    }

    func type(_ t: ValueType) -> UnsafeMutablePointer<Onnx__TypeProto> {
        let p = allocate(Onnx__TypeProto.self)
        onnx__type_proto__init(p)
        switch t {
        case .tensor(let element, let dims):
            let inner = allocate(Onnx__TypeProto__Tensor.self)
            onnx__type_proto__tensor__init(inner)
            inner.pointee.has_elem_type = 1
            inner.pointee.elem_type = element?.rawValue ?? 0
            if let dims { inner.pointee.shape = shape(dims) }
            p.pointee.value_case = Onnx__TypeProto__ValueCase(rawValue: 1)
            p.pointee.tensor_type = inner
        case .sparseTensor(let element, let dims):
            let inner = allocate(Onnx__TypeProto__SparseTensor.self)
            onnx__type_proto__sparse_tensor__init(inner)
            inner.pointee.has_elem_type = 1
            inner.pointee.elem_type = element?.rawValue ?? 0
            if let dims { inner.pointee.shape = shape(dims) }
            p.pointee.value_case = Onnx__TypeProto__ValueCase(rawValue: 8)
            p.pointee.sparse_tensor_type = inner
        case .sequence(let element):
            let inner = allocate(Onnx__TypeProto__Sequence.self)
            onnx__type_proto__sequence__init(inner)
            if let element { inner.pointee.elem_type = type(element) }
            p.pointee.value_case = Onnx__TypeProto__ValueCase(rawValue: 4)
            p.pointee.sequence_type = inner
        case .optional(let element):
            let inner = allocate(Onnx__TypeProto__Optional.self)
            onnx__type_proto__optional__init(inner)
            if let element { inner.pointee.elem_type = type(element) }
            p.pointee.value_case = Onnx__TypeProto__ValueCase(rawValue: 9)
            p.pointee.optional_type = inner
        case .map(let key, let value):
            let inner = allocate(Onnx__TypeProto__Map.self)
            onnx__type_proto__map__init(inner)
            inner.pointee.has_key_type = 1
            inner.pointee.key_type = key?.rawValue ?? 0
            if let value { inner.pointee.value_type = type(value) }
            p.pointee.value_case = Onnx__TypeProto__ValueCase(rawValue: 5)
            p.pointee.map_type = inner
        case .opaque(let domain, let name):
            let inner = allocate(Onnx__TypeProto__Opaque.self)
            onnx__type_proto__opaque__init(inner)
            inner.pointee.domain = cString(domain)
            inner.pointee.name = cString(name)
            p.pointee.value_case = Onnx__TypeProto__ValueCase(rawValue: 7)
            p.pointee.opaque_type = inner
        }
        return p
    }

    func function(_ f: Function) throws -> UnsafeMutablePointer<Onnx__FunctionProto> {
        let p = allocate(Onnx__FunctionProto.self)
        onnx__function_proto__init(p)
        p.pointee.name = cString(f.name)
        p.pointee.domain = cString(f.domain)
        p.pointee.overload = cString(f.overload)
        p.pointee.n_input = f.inputs.count
        p.pointee.input = stringArray(f.inputs)
        p.pointee.n_output = f.outputs.count
        p.pointee.output = stringArray(f.outputs)
        let plain = f.attributeNames.filter { f.attributeDefaults[$0] == nil }
        p.pointee.n_attribute = plain.count
        p.pointee.attribute = stringArray(plain)
        let defaults = try f.attributeDefaults.sorted { $0.key < $1.key }.map { try attribute($0.key, $0.value) }
        p.pointee.n_attribute_proto = defaults.count
        p.pointee.attribute_proto = pointers(defaults)
        let nodes = try f.nodes.map { try node($0) }
        p.pointee.n_node = nodes.count
        p.pointee.node = pointers(nodes)
        let imports = opsets(f.opsetImports)
        p.pointee.n_opset_import = imports.count
        p.pointee.opset_import = pointers(imports)
        return p
    }
}
