"""
Fused's file API (/files/...) over the emulator's object store. A file URL s3://bucket/key (or
gs://, file://) is the object /<scheme>.<bucket>/<key>; fd://path is the user's own area and
resolves to s3://fused-users/fused/<email>/path. Reads answer with a redirect to a signed URL (the
SDK follows it); uploads are direct (PUT) or S3 presigned POSTs to the store. /mount (EFS) paths
are not emulated.
"""
import urllib.parse
import uuid

from .core import Response, iso_utc
from .fastapi import detail, invalid

SCHEMES = ("s3", "gs", "file")
UPLOAD_MAX = 100 * 1024 * 1024


class FusedFiles:
    def __init__(self, emu):
        self.emu = emu

    def routes(self, add, prefix):
        F = prefix + "/files"
        add("GET", F + "/list", "fused.files.list", self.list)
        add("GET", F + "/list-details", "fused.files.list_details", self.list_details)
        add("GET", F + "/get", "fused.files.get", self.get)
        add("GET", F + "/download", "fused.files.download", self.get)
        add("DELETE", F + "/delete", "fused.files.delete", self.delete)
        add("GET", F + "/sign", "fused.files.sign", self.sign)
        add("GET", F + "/sign_prefix", "fused.files.sign_prefix", self.sign_prefix)
        add("GET", F + "/sign-upload", "fused.files.sign_upload", self.sign_upload)
        add("GET", F + "/sign-upload-temp", "fused.files.sign_upload_temp", self.sign_upload_temp)
        add("PUT", F + "/upload", "fused.files.upload", self.upload)
        add("POST", F + "/upload-temp", "fused.files.upload_temp", self.upload_temp)
        add("POST", F + "/resolve", "fused.files.resolve", self.resolve)

    # -- URLs and object paths

    def _resolve(self, url):
        if url.startswith("fd://"):
            return f"s3://fused-users/fused/{self.emu.config['fused']['user']['email']}/{url[len('fd://'):]}"
        return url

    def _object(self, url):
        """The store path of file URL `url` (a prefix when it ends in /)."""
        split = urllib.parse.urlsplit(self._resolve(url))
        if split.scheme not in SCHEMES or not split.netloc and split.scheme != "file":
            raise detail(400, f"unsupported path {url!r}: use s3://, gs://, fd:// or file://")
        return f"/{split.scheme}.{split.netloc or 'local'}{split.path}"

    @staticmethod
    def _url(path):
        bucket, _, key = path[1:].partition("/")
        scheme, _, netloc = bucket.partition(".")
        return f"{scheme}://{'' if netloc == 'local' else netloc}/{key}"

    def _path_arg(self, req):
        path = req.arg("path")
        if not path:
            raise invalid(("query", "path"), "field required", "value_error.missing")
        return path

    def _children(self, url):
        """The objects and "directories" directly under `url`: {url: (size, time) or None for a dir}."""
        prefix = self._object(url if url.endswith("/") else url + "/")  # "fd://" lists the whole area
        children = {}
        for path, (data, _, stored) in self.emu.storage.under(prefix).items():
            rest = path[len(prefix):]
            head, slash, _ = rest.partition("/")
            if slash:
                children[self._url(prefix + head + "/")] = None
            else:
                children[self._url(path)] = (len(data), stored)
        return dict(sorted(children.items()))

    # -- handlers

    def list(self, req):
        return Response.json(200, list(self._children(self._path_arg(req))))

    def list_details(self, req):
        items = []
        for url, info in self._children(self._path_arg(req)).items():
            items.append({"url": url, "file_name": url.rstrip("/").rsplit("/", 1)[-1],
                          "is_directory": info is None,
                          "size": info and info[0], "last_modified": info and iso_utc(info[1])})
        return Response.json(200, items)

    def get(self, req):
        path = self._object(self._path_arg(req))
        if self.emu.storage.get(path) is None:
            raise detail(404, "File not found")
        url = self.emu.storage.sign(path, self.emu.config["signed_url_lifetime"])
        return Response(307, b"", None, [("Location", url)])

    def delete(self, req):
        url = self._path_arg(req)
        depth = req.arg("max_deletion_depth", "3")
        limit = None if depth == "unlimited" else int(depth)
        exact = self._object(url)
        deleted = self.emu.storage.delete(exact)
        prefix = exact.rstrip("/") + "/"
        for path in self.emu.storage.under(prefix):
            if limit is None or path[len(prefix):].count("/") < limit:
                deleted = self.emu.storage.delete(path) or deleted
        return Response.json(200, deleted)

    def sign(self, req):
        path = self._object(self._path_arg(req))
        return Response.json(200, self.emu.storage.sign(path, self.emu.config["signed_url_lifetime"]))

    def sign_prefix(self, req):
        prefix = self._object(self._path_arg(req))
        lifetime = self.emu.config["signed_url_lifetime"]
        bucket = prefix[1:].partition("/")[0]
        return Response.json(200, {path[len(bucket) + 2:]: self.emu.storage.sign(path, lifetime)
                                   for path in sorted(self.emu.storage.under(prefix))})

    def _content_length(self, req):
        try:
            return int(req.arg("content_length", UPLOAD_MAX))
        except ValueError:
            raise invalid(("query", "content_length"), "value is not a valid integer",
                          "type_error.integer") from None

    def sign_upload(self, req):
        path = self._object(self._path_arg(req))
        return Response.json(200, self.emu.storage.presigned_post(path, self.emu.config["signed_url_lifetime"],
                                                                   self._content_length(req)))

    def _temp_path(self, req):
        extension = req.arg("extension", "bin").lstrip(".")
        return f"/s3.fused-tmp/{uuid.uuid4()}.{extension}"

    def sign_upload_temp(self, req):
        path = self._temp_path(req)
        post = self.emu.storage.presigned_post(path, self.emu.config["signed_url_lifetime"],
                                               self._content_length(req))
        return Response.json(200, {"signed_post": post, "storage_url": self._url(path)})

    def upload(self, req):
        path = self._object(self._path_arg(req))
        self.emu.storage.put(path, req.body, req.header("Content-Type", "application/octet-stream"))
        return Response.json(200, True)

    def upload_temp(self, req):
        path = self._temp_path(req)
        self.emu.storage.put(path, req.body, req.header("Content-Type", "application/octet-stream"))
        return Response.json(200, self._url(path))

    def resolve(self, req):
        return Response.json(200, self._resolve(self._path_arg(req)))
