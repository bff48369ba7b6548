"""Scrapy settings for the nianbao-watch crawler. Spiders, middlewares and pipelines arrive with the
crawler issue; these are the polite defaults every spider will share."""

BOT_NAME = "nianbao-watch"
SPIDER_MODULES: list[str] = []
USER_AGENT = "nianbao-watch/0.1 (+https://github.com/nianbao-watch; annual-report monitor)"
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS_PER_DOMAIN = 2
AUTOTHROTTLE_ENABLED = True
DOWNLOAD_MAXSIZE = 50 * 1024 * 1024
DOWNLOAD_TIMEOUT = 60
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
