"""The Scrapy project that finds reports on government sites (arrives with the crawler issue)."""
