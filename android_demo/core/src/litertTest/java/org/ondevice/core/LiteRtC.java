package org.ondevice.core;

import com.sun.jna.Library;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.PointerByReference;
import java.io.Closeable;
import java.util.ArrayList;
import java.util.List;

/**
 * A `.tflite` run from the JVM through the LiteRT C API of {@code libLiteRt.so} (the library
 * the ai-edge-litert wheel ships), with JNA: CompiledModel on the CPU, int32 inputs, one float32
 * output. Test-only: it lets the Java path text -> ids -> model -> labels be checked against
 * Python on a machine without Android.
 *
 * <pre>{@code
 * try (LiteRtC.Model m = LiteRtC.load("/.../libLiteRt.so").open("fp32.tflite")) {
 *     float[] probabilities = m.run(new int[][] {ids, mask, segments});
 * }
 * }</pre>
 *
 * The signatures are those of the library in ai-edge-litert 2.3 (for instance
 * {@code LiteRtCreateModelFromFile(env, path, &model)}, {@code LiteRtLockTensorBuffer(buffer,
 * &address, mode)}); the ranked tensor type struct is treated as opaque memory that LiteRT
 * fills and reads back.
 */
public final class LiteRtC {
    private static final int OK = 0;
    private static final int HW_ACCELERATOR_CPU = 1;
    private static final int LOCK_READ = 0;
    private static final int LOCK_WRITE = 1;
    private static final int RANKED_TENSOR_TYPE_BYTES = 256;  // >= sizeof(LiteRtRankedTensorType)

    /** The C functions used, as JNA maps them (size_t and pointers are 64-bit here). */
    public interface Api extends Library {
        int LiteRtCreateEnvironment(int numOptions, Pointer options, PointerByReference env);
        void LiteRtDestroyEnvironment(Pointer env);
        int LiteRtCreateModelFromFile(Pointer env, String path, PointerByReference model);
        void LiteRtDestroyModel(Pointer model);
        int LiteRtGetModelSignature(Pointer model, long index, PointerByReference signature);
        int LiteRtGetNumSignatureInputs(Pointer signature, long[] count);
        int LiteRtGetNumSignatureOutputs(Pointer signature, long[] count);
        int LiteRtGetSignatureInputName(Pointer signature, long index, PointerByReference name);
        int LiteRtGetSignatureInputTensorByIndex(Pointer signature, long index, PointerByReference tensor);
        int LiteRtGetSignatureOutputTensorByIndex(Pointer signature, long index, PointerByReference tensor);
        int LiteRtGetRankedTensorType(Pointer tensor, Pointer rankedTensorType);
        int LiteRtCreateOptions(PointerByReference options);
        void LiteRtDestroyOptions(Pointer options);
        int LiteRtSetOptionsHardwareAccelerators(Pointer options, int accelerators);
        int LiteRtCreateCompiledModel(Pointer env, Pointer model, Pointer options, PointerByReference compiled);
        void LiteRtDestroyCompiledModel(Pointer compiled);
        int LiteRtGetCompiledModelInputBufferRequirements(Pointer compiled, long signature, long index,
                                                          PointerByReference requirements);
        int LiteRtGetCompiledModelOutputBufferRequirements(Pointer compiled, long signature, long index,
                                                           PointerByReference requirements);
        int LiteRtCreateManagedTensorBufferFromRequirements(Pointer env, Pointer rankedTensorType,
                                                            Pointer requirements, PointerByReference buffer);
        void LiteRtDestroyTensorBuffer(Pointer buffer);
        int LiteRtGetTensorBufferPackedSize(Pointer buffer, long[] size);
        int LiteRtLockTensorBuffer(Pointer buffer, PointerByReference address, int mode);
        int LiteRtUnlockTensorBuffer(Pointer buffer);
        int LiteRtRunCompiledModel(Pointer compiled, long signature, long numInputs, Pointer[] inputs,
                                   long numOutputs, Pointer[] outputs);
    }

    private final Api api;

    private LiteRtC(Api api) {
        this.api = api;
    }

    public static LiteRtC load(String libraryPath) {
        return new LiteRtC(Native.load(libraryPath, Api.class));
    }

    private static void check(int status, String call) {
        if (status != OK) {
            throw new IllegalStateException(call + " failed with LiteRtStatus " + status);
        }
    }

    /** Compiles {@code path} for the CPU. */
    public Model open(String path) {
        return new Model(path);
    }

    /** One compiled model with its input and output buffers; not thread-safe. */
    public final class Model implements Closeable {
        private Pointer env;
        private Pointer model;
        private Pointer options;
        private Pointer compiled;
        private final List<Pointer> inputs = new ArrayList<>();
        private final List<String> inputNames = new ArrayList<>();
        private final List<Long> inputBytes = new ArrayList<>();
        private Pointer output;
        private long outputBytes;

        Model(String path) {
            try {
                PointerByReference ref = new PointerByReference();
                check(api.LiteRtCreateEnvironment(0, null, ref), "LiteRtCreateEnvironment");
                env = ref.getValue();
                check(api.LiteRtCreateModelFromFile(env, path, ref), "LiteRtCreateModelFromFile(" + path + ")");
                model = ref.getValue();
                check(api.LiteRtGetModelSignature(model, 0, ref), "LiteRtGetModelSignature");
                Pointer signature = ref.getValue();
                long[] count = new long[1];
                check(api.LiteRtGetNumSignatureInputs(signature, count), "LiteRtGetNumSignatureInputs");
                long numInputs = count[0];
                check(api.LiteRtGetNumSignatureOutputs(signature, count), "LiteRtGetNumSignatureOutputs");
                if (count[0] != 1) {
                    throw new IllegalStateException(path + ": " + count[0] + " outputs, expected 1");
                }
                check(api.LiteRtCreateOptions(ref), "LiteRtCreateOptions");
                options = ref.getValue();
                check(api.LiteRtSetOptionsHardwareAccelerators(options, HW_ACCELERATOR_CPU),
                        "LiteRtSetOptionsHardwareAccelerators");
                check(api.LiteRtCreateCompiledModel(env, model, options, ref), "LiteRtCreateCompiledModel");
                compiled = ref.getValue();
                for (long i = 0; i < numInputs; i++) {
                    check(api.LiteRtGetSignatureInputName(signature, i, ref), "LiteRtGetSignatureInputName");
                    inputNames.add(ref.getValue().getString(0));
                    check(api.LiteRtGetSignatureInputTensorByIndex(signature, i, ref), "LiteRtGetSignatureInputTensorByIndex");
                    Pointer buffer = buffer(ref.getValue(), true, i);
                    inputs.add(buffer);
                    inputBytes.add(packedSize(buffer));
                }
                check(api.LiteRtGetSignatureOutputTensorByIndex(signature, 0, ref), "LiteRtGetSignatureOutputTensorByIndex");
                output = buffer(ref.getValue(), false, 0);
                outputBytes = packedSize(output);
            } catch (RuntimeException e) {
                close();
                throw e;
            }
        }

        private Pointer buffer(Pointer tensor, boolean input, long index) {
            Memory type = new Memory(RANKED_TENSOR_TYPE_BYTES);
            type.clear();
            check(api.LiteRtGetRankedTensorType(tensor, type), "LiteRtGetRankedTensorType");
            PointerByReference ref = new PointerByReference();
            if (input) {
                check(api.LiteRtGetCompiledModelInputBufferRequirements(compiled, 0, index, ref),
                        "LiteRtGetCompiledModelInputBufferRequirements");
            } else {
                check(api.LiteRtGetCompiledModelOutputBufferRequirements(compiled, 0, index, ref),
                        "LiteRtGetCompiledModelOutputBufferRequirements");
            }
            Pointer requirements = ref.getValue();
            check(api.LiteRtCreateManagedTensorBufferFromRequirements(env, type, requirements, ref),
                    "LiteRtCreateManagedTensorBufferFromRequirements");
            return ref.getValue();
        }

        private long packedSize(Pointer buffer) {
            long[] size = new long[1];
            check(api.LiteRtGetTensorBufferPackedSize(buffer, size), "LiteRtGetTensorBufferPackedSize");
            return size[0];
        }

        /** The signature's input names, in the order {@link #run(int[][])} takes them. */
        public List<String> inputNames() {
            return java.util.Collections.unmodifiableList(inputNames);
        }

        /** One run with the int32 inputs given by name. */
        public float[] run(java.util.Map<String, int[]> values) {
            int[][] ordered = new int[inputNames.size()][];
            for (int i = 0; i < ordered.length; i++) {
                ordered[i] = values.get(inputNames.get(i));
                if (ordered[i] == null) {
                    throw new IllegalArgumentException("no value for input " + inputNames.get(i));
                }
            }
            return run(ordered);
        }

        /** One run: each int32 array fills the input of the same index; returns the float32 output. */
        public float[] run(int[][] values) {
            if (values.length != inputs.size()) {
                throw new IllegalArgumentException(values.length + " inputs given, the model has " + inputs.size());
            }
            PointerByReference address = new PointerByReference();
            for (int i = 0; i < values.length; i++) {
                if (4L * values[i].length != inputBytes.get(i)) {
                    throw new IllegalArgumentException("input " + i + " takes " + inputBytes.get(i)
                            + " bytes, got " + values[i].length + " int32 values");
                }
                check(api.LiteRtLockTensorBuffer(inputs.get(i), address, LOCK_WRITE), "LiteRtLockTensorBuffer");
                address.getValue().write(0, values[i], 0, values[i].length);
                check(api.LiteRtUnlockTensorBuffer(inputs.get(i)), "LiteRtUnlockTensorBuffer");
            }
            check(api.LiteRtRunCompiledModel(compiled, 0, inputs.size(), inputs.toArray(new Pointer[0]),
                    1, new Pointer[] {output}), "LiteRtRunCompiledModel");
            check(api.LiteRtLockTensorBuffer(output, address, LOCK_READ), "LiteRtLockTensorBuffer");
            float[] out = address.getValue().getFloatArray(0, (int) (outputBytes / 4));
            check(api.LiteRtUnlockTensorBuffer(output), "LiteRtUnlockTensorBuffer");
            return out;
        }

        @Override
        public void close() {
            if (output != null) {
                api.LiteRtDestroyTensorBuffer(output);
                output = null;
            }
            for (Pointer p : inputs) {
                api.LiteRtDestroyTensorBuffer(p);
            }
            inputs.clear();
            if (compiled != null) {
                api.LiteRtDestroyCompiledModel(compiled);
                compiled = null;
            }
            if (options != null) {
                api.LiteRtDestroyOptions(options);
                options = null;
            }
            if (model != null) {
                api.LiteRtDestroyModel(model);
                model = null;
            }
            if (env != null) {
                api.LiteRtDestroyEnvironment(env);
                env = null;
            }
        }
    }
}
