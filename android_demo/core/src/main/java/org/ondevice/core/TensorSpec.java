package org.ondevice.core;

import java.util.Arrays;
import java.util.Objects;

/**
 * Name, element type and shape of one model input or output, as the manifest records it and as
 * a runtime reports it.
 *
 * <pre>{@code
 * new TensorSpec("token_ids", "int32", new int[] {1, 32});
 * }</pre>
 */
public final class TensorSpec {
    public final String name;
    /** Lower-case TFLite type name: "int32", "float32", "int8", ... */
    public final String dtype;
    private final int[] shape;

    public TensorSpec(String name, String dtype, int[] shape) {
        this.name = Objects.requireNonNull(name);
        this.dtype = Objects.requireNonNull(dtype).toLowerCase(java.util.Locale.ROOT);
        this.shape = shape.clone();
    }

    public int[] shape() {
        return shape.clone();
    }

    /** Product of the dimensions. */
    public int elementCount() {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof TensorSpec)) {
            return false;
        }
        TensorSpec t = (TensorSpec) o;
        return name.equals(t.name) && dtype.equals(t.dtype) && Arrays.equals(shape, t.shape);
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, dtype, Arrays.hashCode(shape));
    }

    @Override
    public String toString() {
        return name + " " + dtype + " " + Arrays.toString(shape);
    }
}
