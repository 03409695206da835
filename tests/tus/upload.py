"""A resumable upload to Veza with tuspy, in two runs: `start` creates the upload and sends
CHUNKS chunks, then stops and prints its URL; `resume` continues that URL from the offset the
server gives (HEAD) to the end and prints the item made.

    python3 upload.py start  BASE_URL TOKEN FILE CHUNK_BYTES CHUNKS
    python3 upload.py resume BASE_URL TOKEN FILE CHUNK_BYTES UPLOAD_URL
"""

import json
import os
import sys

from tusclient import client


def main():
    phase, base_url, token, path, chunk, last = sys.argv[1:7]
    tus = client.TusClient(f"{base_url}/v1/uploads", headers={"Authorization": f"Bearer {token}"})
    metadata = {"filename": os.path.basename(path), "filetype": "audio/wav"}
    if phase == "start":
        uploader = tus.uploader(path, chunk_size=int(chunk), metadata=metadata)
        for _ in range(int(last)):
            uploader.upload_chunk()
        print(json.dumps({"url": uploader.url, "offset": uploader.offset}))
    else:
        uploader = tus.uploader(path, chunk_size=int(chunk), metadata=metadata, url=last)
        resumed_from = uploader.offset
        uploader.upload()
        print(
            json.dumps(
                {
                    "url": uploader.url,
                    "resumed_from": resumed_from,
                    "offset": uploader.offset,
                    "mediaId": uploader.request.response_headers.get("veza-media-id"),
                }
            )
        )


if __name__ == "__main__":
    main()
