package org.ondevice.core;

/**
 * A model file or an asset that does not match its manifest (hash, inputs, outputs, shape):
 * the app refuses it and shows {@link #getMessage()}, one line naming the file and the problem.
 */
public final class ModelMismatchException extends Exception {
    private static final long serialVersionUID = 1L;

    public ModelMismatchException(String message) {
        super(message);
    }
}
