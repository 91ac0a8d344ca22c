"""Writes the same model's metadata with tflite-support's own writer, to compare with ours.

Runs in the tflite-support 0.4.4 venv:

    python tests/consumers/official_metadata_writer.py job.json results.json

job.json: {"model": "fp32.tflite" (ours, with metadata), "vocab": "vocab.txt",
           "labels": "labels.txt", "general": {"name", "description", "version", "author",
           "license"}, "tflite_input_names": ["token_ids", "padding_mask", "segment_ids"],
           "output": "official.tflite"}
The official `bert_nl_classifier.MetadataWriter` (MetadataPopulator underneath) repopulates the
flatbuffer part of our file; results.json holds, for ours and for the official file, the
metadata buffer's sha256, its JSON (tflite-support's schema printer) and the packed files'
sha256, plus the C++ minimum parser version of our metadata buffer.
"""

import hashlib
import io
import json
import sys
import zipfile

from tensorflow_lite_support.metadata.cc.python import _pywrap_metadata_version
from tflite_support import metadata
from tflite_support.metadata_writers import (
    bert_nl_classifier,
    metadata_info,
    writer_utils,
)


def describe(model: bytes) -> dict:
    buf = metadata.get_metadata_buffer(model)
    with zipfile.ZipFile(io.BytesIO(model)) as archive:
        packed = {i.filename: hashlib.sha256(archive.read(i)).hexdigest()
                  for i in archive.infolist()}
    return {"metadata_sha256": hashlib.sha256(buf).hexdigest(),
            "metadata_json": json.loads(metadata.convert_to_json(buf)), "packed": packed,
            "packed_order": list(packed)}


def main(job_path: str, results_path: str) -> None:
    with open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    with open(job["model"], "rb") as f:
        ours = f.read()
    with zipfile.ZipFile(io.BytesIO(ours)) as archive:
        flatbuffer = ours[:min(i.header_offset for i in archive.infolist())]
    general = {k: (v or None) for k, v in job["general"].items()}
    ids, mask, segment = job["tflite_input_names"]
    writer = bert_nl_classifier.MetadataWriter.create_from_metadata_info(
        bytearray(flatbuffer),
        general_md=metadata_info.GeneralMd(
            name=general["name"], version=general["version"],
            description=general["description"], author=general["author"],
            licenses=general["license"]),
        input_md=metadata_info.BertInputTensorsMd(
            flatbuffer, ids, mask, segment,
            tokenizer_md=metadata_info.BertTokenizerMd(job["vocab"])),
        output_md=metadata_info.ClassificationTensorMd(
            name="probability", description="Probabilities of the labels respectively.",
            label_files=[metadata_info.LabelFileMd(file_path=job["labels"])],
            tensor_type=writer_utils.get_output_tensor_types(flatbuffer)[0]))
    official = bytes(writer.populate())
    with open(job["output"], "wb") as f:
        f.write(official)
    results = {"ours": describe(ours), "official": describe(official),
               "cpp_min_parser_version_of_ours":
                   _pywrap_metadata_version.GetMinimumMetadataParserVersion(
                       metadata.get_metadata_buffer(ours))}
    with open(results_path, "w", encoding="utf-8") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(*sys.argv[1:3])
