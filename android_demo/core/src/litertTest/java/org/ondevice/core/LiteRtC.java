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
 * the ai-edge-litert wheel ships), with JNA: CompiledModel on the CPU; {@link Model}: the first
 * signature, int32 inputs, one float32 output; {@link SignatureModel}: every signature by key,
 * inputs and outputs by name (an LM's prefill and decode with their KV caches). Test-only: it
 * lets the Java path text -> ids -> model -> labels (or actions) be checked against Python on a
 * machine without Android.
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
        int LiteRtGetNumModelSignatures(Pointer model, long[] count);
        int LiteRtGetSignatureKey(Pointer signature, PointerByReference key);
        int LiteRtGetSignatureOutputName(Pointer signature, long index, PointerByReference name);
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

    /** Compiles {@code path} for the CPU, every signature with buffers for all its tensors. */
    public SignatureModel openSignatures(String path) {
        return new SignatureModel(path);
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

    /**
     * A compiled model with several signatures (an LM's {@code prefill} and {@code decode}),
     * each input and output a buffer addressed by signature key and tensor name. Inputs are
     * written as int32 or float32 arrays (only their byte size is checked, against the tensor's),
     * outputs read as float32. Not thread-safe.
     *
     * <pre>{@code
     * m.write("decode", "token", new int[] {17});   // ... every input of the signature
     * m.run("decode");
     * float[] logits = m.readFloats("decode", "logits");
     * }</pre>
     */
    public final class SignatureModel implements Closeable {
        private Pointer env;
        private Pointer model;
        private Pointer options;
        private Pointer compiled;
        private final java.util.Map<String, Signature> signatures = new java.util.LinkedHashMap<>();

        private final class Signature {
            final long index;
            final java.util.Map<String, Pointer> inputs = new java.util.LinkedHashMap<>();
            final java.util.Map<String, Pointer> outputs = new java.util.LinkedHashMap<>();
            final java.util.Map<Pointer, Long> bytes = new java.util.HashMap<>();

            Signature(long index) {
                this.index = index;
            }
        }

        SignatureModel(String path) {
            try {
                PointerByReference ref = new PointerByReference();
                check(api.LiteRtCreateEnvironment(0, null, ref), "LiteRtCreateEnvironment");
                env = ref.getValue();
                check(api.LiteRtCreateModelFromFile(env, path, ref), "LiteRtCreateModelFromFile(" + path + ")");
                model = ref.getValue();
                check(api.LiteRtCreateOptions(ref), "LiteRtCreateOptions");
                options = ref.getValue();
                check(api.LiteRtSetOptionsHardwareAccelerators(options, HW_ACCELERATOR_CPU),
                        "LiteRtSetOptionsHardwareAccelerators");
                check(api.LiteRtCreateCompiledModel(env, model, options, ref), "LiteRtCreateCompiledModel");
                compiled = ref.getValue();
                long[] count = new long[1];
                check(api.LiteRtGetNumModelSignatures(model, count), "LiteRtGetNumModelSignatures");
                for (long s = 0; s < count[0]; s++) {
                    check(api.LiteRtGetModelSignature(model, s, ref), "LiteRtGetModelSignature");
                    Pointer signature = ref.getValue();
                    check(api.LiteRtGetSignatureKey(signature, ref), "LiteRtGetSignatureKey");
                    Signature sig = new Signature(s);
                    signatures.put(ref.getValue().getString(0), sig);
                    long[] n = new long[1];
                    check(api.LiteRtGetNumSignatureInputs(signature, n), "LiteRtGetNumSignatureInputs");
                    for (long i = 0; i < n[0]; i++) {
                        check(api.LiteRtGetSignatureInputName(signature, i, ref), "LiteRtGetSignatureInputName");
                        String name = ref.getValue().getString(0);
                        check(api.LiteRtGetSignatureInputTensorByIndex(signature, i, ref),
                                "LiteRtGetSignatureInputTensorByIndex");
                        sig.inputs.put(name, buffer(sig, ref.getValue(), true, i));
                    }
                    check(api.LiteRtGetNumSignatureOutputs(signature, n), "LiteRtGetNumSignatureOutputs");
                    for (long i = 0; i < n[0]; i++) {
                        check(api.LiteRtGetSignatureOutputName(signature, i, ref), "LiteRtGetSignatureOutputName");
                        String name = ref.getValue().getString(0);
                        check(api.LiteRtGetSignatureOutputTensorByIndex(signature, i, ref),
                                "LiteRtGetSignatureOutputTensorByIndex");
                        sig.outputs.put(name, buffer(sig, ref.getValue(), false, i));
                    }
                }
            } catch (RuntimeException e) {
                close();
                throw e;
            }
        }

        private Pointer buffer(Signature sig, Pointer tensor, boolean input, long index) {
            Memory type = new Memory(RANKED_TENSOR_TYPE_BYTES);
            type.clear();
            check(api.LiteRtGetRankedTensorType(tensor, type), "LiteRtGetRankedTensorType");
            PointerByReference ref = new PointerByReference();
            if (input) {
                check(api.LiteRtGetCompiledModelInputBufferRequirements(compiled, sig.index, index, ref),
                        "LiteRtGetCompiledModelInputBufferRequirements");
            } else {
                check(api.LiteRtGetCompiledModelOutputBufferRequirements(compiled, sig.index, index, ref),
                        "LiteRtGetCompiledModelOutputBufferRequirements");
            }
            check(api.LiteRtCreateManagedTensorBufferFromRequirements(env, type, ref.getValue(), ref),
                    "LiteRtCreateManagedTensorBufferFromRequirements");
            Pointer buffer = ref.getValue();
            long[] size = new long[1];
            try {
                check(api.LiteRtGetTensorBufferPackedSize(buffer, size), "LiteRtGetTensorBufferPackedSize");
            } catch (RuntimeException e) {
                api.LiteRtDestroyTensorBuffer(buffer);
                throw e;
            }
            sig.bytes.put(buffer, size[0]);
            return buffer;
        }

        private Signature signature(String key) {
            Signature sig = signatures.get(key);
            if (sig == null) {
                throw new IllegalArgumentException("no signature " + key + " (signatures: " + signatures.keySet() + ")");
            }
            return sig;
        }

        private Pointer tensor(java.util.Map<String, Pointer> tensors, String key, String name) {
            Pointer p = tensors.get(name);
            if (p == null) {
                throw new IllegalArgumentException(key + " has no tensor " + name + " (" + tensors.keySet() + ")");
            }
            return p;
        }

        /** The signature keys, in the file's order. */
        public java.util.Set<String> signatureKeys() {
            return java.util.Collections.unmodifiableSet(signatures.keySet());
        }

        public java.util.List<String> inputNames(String key) {
            return new ArrayList<>(signature(key).inputs.keySet());
        }

        public java.util.List<String> outputNames(String key) {
            return new ArrayList<>(signature(key).outputs.keySet());
        }

        /** Bytes of an input tensor (4 per int32 or float32 element). */
        public long inputBytes(String key, String name) {
            Signature sig = signature(key);
            return sig.bytes.get(tensor(sig.inputs, key, name));
        }

        private Pointer lockInput(String key, String name, long elements) {
            Signature sig = signature(key);
            Pointer buffer = tensor(sig.inputs, key, name);
            if (4L * elements != sig.bytes.get(buffer)) {
                throw new IllegalArgumentException(key + "." + name + " takes " + sig.bytes.get(buffer)
                        + " bytes, got " + elements + " 4-byte values");
            }
            PointerByReference address = new PointerByReference();
            check(api.LiteRtLockTensorBuffer(buffer, address, LOCK_WRITE), "LiteRtLockTensorBuffer");
            return address.getValue();
        }

        private void unlock(String key, String name, boolean input) {
            Signature sig = signature(key);
            check(api.LiteRtUnlockTensorBuffer(tensor(input ? sig.inputs : sig.outputs, key, name)),
                    "LiteRtUnlockTensorBuffer");
        }

        public void write(String key, String name, int[] values) {
            lockInput(key, name, values.length).write(0, values, 0, values.length);
            unlock(key, name, true);
        }

        public void write(String key, String name, float[] values) {
            lockInput(key, name, values.length).write(0, values, 0, values.length);
            unlock(key, name, true);
        }

        /** Runs signature {@code key} on what its input buffers hold. */
        public void run(String key) {
            Signature sig = signature(key);
            Pointer[] ins = sig.inputs.values().toArray(new Pointer[0]);
            Pointer[] outs = sig.outputs.values().toArray(new Pointer[0]);
            check(api.LiteRtRunCompiledModel(compiled, sig.index, ins.length, ins, outs.length, outs),
                    "LiteRtRunCompiledModel(" + key + ")");
        }

        /** Output {@code name} of the last run of {@code key}, as float32. */
        public float[] readFloats(String key, String name) {
            Signature sig = signature(key);
            Pointer buffer = tensor(sig.outputs, key, name);
            PointerByReference address = new PointerByReference();
            check(api.LiteRtLockTensorBuffer(buffer, address, LOCK_READ), "LiteRtLockTensorBuffer");
            float[] out = address.getValue().getFloatArray(0, (int) (sig.bytes.get(buffer) / 4));
            unlock(key, name, false);
            return out;
        }

        @Override
        public void close() {
            for (Signature sig : signatures.values()) {
                for (Pointer p : sig.bytes.keySet()) {
                    api.LiteRtDestroyTensorBuffer(p);
                }
                sig.bytes.clear();
            }
            signatures.clear();
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
