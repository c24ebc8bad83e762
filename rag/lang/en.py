"""English."""

from rag.lang.base import Language

LANGUAGE = Language(
    code="en",
    name="English",
    stop_words=frozenset(
        ["the", "a", "an", "of", "to", "in", "on", "at", "is", "was", "were", "are", "be", "been", "did", "does", "do", "who", "what", "when", "where", "why", "how", "which", "whom", "whose", "and", "or", "with", "for", "from", "about", "by", "as", "that", "this", "it", "its", "has", "have", "had", "will", "would", "can", "could", "should", "they", "he", "she", "his", "her", "their", "say", "said", "tell", "me", "than"]),
    fillers=frozenset(
        ["what", "when", "where", "which", "whom", "whose", "does", "did", "have", "been", "were", "about", "would", "could", "should", "there", "their", "they", "them", "this", "that", "these", "those", "with", "from", "into", "according", "type", "date", "dates", "kind", "sort"]),
    pronoun_openers=frozenset(["he", "she", "they", "it", "this", "these", "those", "his", "her", "their", "its"]),
    anaphora=("it", "its", "they", "them", "their", "this", "that", "these", "those", "he", "she", "him",
              "her", "there", "and", "also"),
    question_words=frozenset(
        ["when", "what", "who", "where", "why", "how", "which", "and", "did", "does", "do", "is", "was", "were", "are", "has", "have", "according", "in", "a", "the"]),
    not_names=frozenset(
        ["the", "a", "an", "according", "in", "on", "at", "as", "by", "for", "from", "to", "of", "and", "or", "but", "he", "she", "it", "they", "we", "you", "i", "this", "that", "these", "those", "there", "his", "her", "their", "its", "also", "however", "both", "after", "before", "during", "since", "until", "when", "while", "what", "who", "which", "where", "why", "how", "yes", "no", "not", "mr", "mrs", "ms", "although", "despite", "earlier", "later", "meanwhile",
         "moreover", "nevertheless", "still", "yet", "thus", "then", "regarding", "some", "each", "every",
         "other", "others", "another", "many", "most", "several", "all", "such", "any"]),
    opener_endings=("ing",),
    months=("January", "February", "March", "April", "May", "June", "July", "August", "September",
            "October", "November", "December"),
    weekdays=("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
    relative_days=("today", "yesterday"),
    day_suffixes=("st", "nd", "rd", "th"),
    ordinal_suffixes=("st", "nd", "rd", "th"),
    number_words={
        "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
        "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20, "hundred": 100,
        "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
        "eighth": 8, "ninth": 9, "tenth": 10, "once": 1, "twice": 2,
    },
    vague_number_words=frozenset(("one", "second", "first", "once")),
    quantity_words=("one", "two", "three", "four", "five", "six", "ten", "hundred", "thousand", "hours?",
                    "minutes?", "years?", "millions?", "billions?"),
    duration_counts=("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                     "twelve", "fifteen", "twenty", "thirty", "forty", "fifty", "hundred", "an?", "a few",
                     "several", "many", "half an?"),
    duration_units=("seconds?", "minutes?", "hours?", "days?", "weeks?", "months?", "years?", "decades?",
                    "centur(?:y|ies)", "millenni(?:um|a)"),
    place_prepositions=("in", "at"),
    compound_conjunctions=("and",),
    compound_openers=("when", "who", "whom", "whose", "where", "what", "which", "how", "why"),
    question_types={
        "duration": r"how long(?! ago)|what (is|was|were) the (duration|length)|duration of|"
                    r"how many (seconds|minutes|hours|days|weeks|months|years|decades|centuries)",
        "count": r"how (many|much|often)|what number|how old|what (percentage|amount|budget)",
        "time": r"when|what (date|day|year|time|month|century)|which (date|day|year|month|century)|"
                r"since when|until when|how long ago|at what time|what time|in what year|year of",
        # "Who is Jen Psaki?" asks what someone is, not for a name.
        "person": r"who(?! (?:is|was|are|were) (?-i:[A-Z]))|whom|whose",
        "place": r"where|in which (city|country|region)|which city|which country",
    },
    boilerplate=(
        r"^(?=.*\bcookies?\b)(?=.*(accept|consent|navigat|profil|privacy))",
        r"^this (web)?site uses cookies",
        r"^(the )?views expressed in (the )?comments",
        r"^(ok|accept|accept all|close)$",
        r"©.{0,120}(source|photo|credit)",
        r"^(read more|share)\b.{0,80}$",
    ),
    small_talk=("hello", "hi", "hey there", "good morning", "good evening", "thanks", "thank you very much",
                "how are you?", "what's up?", "who are you?", "what can you do?", "tell me a joke", "goodbye",
                "ok", "yes", "help"),
    latest=(r"latest", r"most recent(ly)?", r"newest", r"up to date", r"current(ly)?", r"now", r"nowadays",
            r"today", r"still", r"yet", r"at present", r"presently", r"these days", r"at the moment", r"so far",
            r"where (do|does|did) .{1,60} stand", r"(what|where) is the status", r"anymore",
            r"the last(?! (year|month|week|decade|century|time)s?\b)"),
    phrases={
        "abstain": "The articles do not say. None of the passages in the corpus answers this question.",
        "according": "According to {source}{date} {marker}: {quote}",
        "also": "Also, according to {source}{date} {marker}: {quote}",
        "translated": "{translation} {marker} (translated from {source}{date}: {quote})",
        "an_article": "an article",
        "as_of": "As of {date}: ",
        "as_of_month": "As of {date}: ",
        "earlier": "Earlier ({date}): ",
        "unsupported": "This question looks written in another language ({code}). newsrag answers questions "
                       "in {languages} only: please ask it in one of them.",
    },
)
