"""Photos: where their bytes live (a local folder or an S3 bucket) and how uploads are read and decoded.

    store.py      the PhotoStore protocols every store implements, addressed by sha256
    local.py      LocalPhotoStore: a folder, fsync'd before a commit acknowledges a photo
    s3.py         S3PhotoStore: any S3-compatible bucket, for several replicas (the ``scale`` extra)
    factory.py    make_photo_store: the store the settings name
    decoding.py   Decoder: decoding photos with bounded memory and time, and a decoded-photo cache
    uploads.py    reading uploaded files under the byte limit, and the filenames they were sent under
"""
