"""Keras -> TFLite: each variant's graph and converter settings (`variants`), and the export
folder written whole from a trained workdir (`export_folder.export_workdir`)."""
