# A Python WebJob: counts words in a file shipped with the job and keeps a
# small SQLite database of past results in WEBJOBS_DATA_PATH.
import collections
import os
import re
import sqlite3

text = open("poem.txt", encoding="utf-8").read()
words = re.findall(r"[a-z']+", text.lower())
top = collections.Counter(words).most_common(3)
print(f"{len(words)} words; most common: {top}")

db = sqlite3.connect(os.path.join(os.environ["WEBJOBS_DATA_PATH"], "results.db"))
db.execute("create table if not exists runs (run_id text, words integer)")
db.execute("insert into runs values (?, ?)", (os.environ["WEBJOBS_RUN_ID"], len(words)))
db.commit()
print("runs recorded so far:", db.execute("select count(*) from runs").fetchone()[0])
