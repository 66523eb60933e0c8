"""Shape: the constructor takes the URLs, not a client."""


class DataFetcher:
    def __init__(self, urls: list[str], timeout: float) -> None:
        self.urls = urls

    def fetch(self, urls: list[str]) -> None:
        return None
