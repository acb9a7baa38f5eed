extension KernelRegistry {
    /// Registers every kernel family. Adding an operator family = one kernel file + one line here.
    static func registerStandardKernels(_ r: inout KernelRegistry) {
        registerArithmetic(&r)
        registerActivations(&r)
        registerShapeKernels(&r)
        registerConstantKernels(&r)
        registerConcatSplit(&r)
        registerTranspose(&r)
        registerGather(&r)
        registerCast(&r)
        registerArgMinMax(&r)
        registerSlice(&r)
        registerReplication(&r)
        registerConvolution(&r)
        registerPooling(&r)
        registerNormalization(&r)
        registerMatrixMultiply(&r)
        registerSoftmax(&r)
        registerSequences(&r)
        registerControlFlow(&r)
        registerStrings(&r)
        registerNormalizationLayers(&r)
        registerAttention(&r)
        registerLosses(&r)
        registerEinsum(&r)
        registerGatedActivations(&r)
    }
}
