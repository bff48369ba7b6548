"""The web dashboard (`nianbao serve`, or inside `nianbao run`): pages in Chinese and a read-only JSON API."""
