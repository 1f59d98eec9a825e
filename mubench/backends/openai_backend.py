"""Any OpenAI-compatible chat endpoint: hosted GPT-4o-class models or a vLLM server.

The image goes as a base64 data URL; requests run with bounded concurrency and are retried with
exponential backoff on 429, 5xx and connection errors. Every answer is stored in a disk cache
keyed by the full request, so a rerun sends nothing. The API key comes only from the
environment variable the catalog names; it is never logged, cached or written to results.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mubench.backends.generative import Generation, GenerativeBackend
from mubench.errors import WeightsError
from mubench.prompt import LETTERS, build_prompt

log = logging.getLogger(__name__)
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class RequestFailed(RuntimeError):
    pass


class OpenAIBackend(GenerativeBackend):
    def load(self) -> None:
        options = self.spec.options
        self.base_url = options.get("base_url", "https://api.openai.com/v1").rstrip("/")
        self.model_name = options.get("model") or self.spec.weights
        self.temperature = float(options.get("temperature", 0.0))
        self.concurrency = int(options.get("concurrency", 8))
        self.max_retries = int(options.get("max_retries", 6))
        self.timeout = float(options.get("timeout_s", 120))
        key_env = options.get("api_key_env")
        self._api_key = os.environ.get(key_env) if key_env else None
        if key_env and not self._api_key:
            raise WeightsError(f"model '{self.spec.name}': environment variable {key_env} (its API key) is not set")
        cache = options.get("cache_dir") or os.environ.get("MUBENCH_API_CACHE") or ".cache/api"
        self.cache_dir = Path(cache)
        self.stats = {"sent": 0, "cache_hits": 0, "retries": 0}
        self._lock = threading.Lock()

    # -- requests ---------------------------------------------------------------------------
    def _body(self, image, item, constrained: bool) -> dict:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
        body = {"model": self.model_name, "temperature": self.temperature,
                "messages": [{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": url}},
                    {"type": "text", "text": build_prompt(item.question, item.options)}]}]}
        if constrained:
            body.update({"max_tokens": 1, "logprobs": True, "top_logprobs": 20})
        else:
            body["max_tokens"] = self.max_new_tokens
        return body

    def _cache_path(self, body: dict) -> Path:
        key = hashlib.sha256(json.dumps({"url": self.base_url, "body": body}, sort_keys=True).encode()).hexdigest()
        return self.cache_dir / key[:2] / f"{key}.json"

    def _post(self, body: dict) -> dict:
        path = self._cache_path(body)
        if path.exists():
            with self._lock:
                self.stats["cache_hits"] += 1
            return json.loads(path.read_text())
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        for attempt in range(self.max_retries + 1):
            request = urllib.request.Request(f"{self.base_url}/chat/completions", data=data, headers=headers)
            try:
                with self._lock:
                    self.stats["sent"] += 1
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    answer = json.loads(response.read())
                break
            except urllib.error.HTTPError as exc:
                if exc.code not in RETRY_STATUS or attempt == self.max_retries:
                    raise RequestFailed(f"{self.base_url}: HTTP {exc.code}: {exc.read()[:300]!r}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt == self.max_retries:
                    raise RequestFailed(f"{self.base_url}: {exc}") from None
            with self._lock:
                self.stats["retries"] += 1
            time.sleep(min(60.0, 2 ** attempt) * (0.5 + random.random()))
        if answer.get("choices"):  # a well-formed answer, even an empty one, is the model's answer
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
            tmp.write_text(json.dumps(answer))
            os.replace(tmp, path)
        return answer

    # -- answers ----------------------------------------------------------------------------
    def _answer(self, image, item) -> Generation:
        answer = self._post(self._body(image, item, constrained=False))
        text = answer["choices"][0]["message"].get("content") or ""
        tokens = (answer.get("usage") or {}).get("completion_tokens") or 0
        result = Generation(text, tokens)
        if self.constrained_enabled:
            first = self._post(self._body(image, item, constrained=True))
            logprobs = ((first["choices"][0].get("logprobs") or {}).get("content") or [{}])[0]
            candidates = {entry["token"].strip(): entry["logprob"] for entry in logprobs.get("top_logprobs", [])}
            letters = LETTERS[:len(item.options)]
            scored = [candidates.get(letter) for letter in letters]
            if any(v is not None for v in scored):  # the best letter among the top tokens
                result.constrained = max((v, i) for i, v in enumerate(scored) if v is not None)[1]
                result.letter_logprobs = scored
        return result

    def generate_prepared(self, images, items):
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(lambda item: self._answer(images[item.image_index], item), items))

    def runtime_info(self) -> dict:
        return {"device": "remote", "engine": "openai-compatible", "base_url": self.base_url,
                "model": self.model_name, "temperature": self.temperature, "max_new_tokens": self.max_new_tokens,
                "decoding": "greedy" if self.temperature == 0 else f"sampling (temperature {self.temperature})",
                "requests": dict(self.stats), "resolved_revision": self.spec.revision, **self.prompt_info()}
