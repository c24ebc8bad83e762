"""French."""

from rag.lang.base import Language

LANGUAGE = Language(
    code="fr",
    name="French",
    stop_words=frozenset(
        ["le", "la", "les", "un", "une", "des", "de", "du", "au", "aux", "et", "ou", "en", "dans", "sur", "par", "pour", "avec", "qui", "que", "quoi", "quand", "comment", "pourquoi", "quel", "quelle", "quels", "quelles", "est", "sont", "a", "ont", "ete", "etait", "il", "elle", "ils", "elles", "ce", "cette", "ces", "son", "sa", "ses", "leur", "leurs", "ne", "pas", "se", "s", "l", "d", "qu", "c", "j", "n", "lors", "entre", "apres", "avant", "selon", "dit", "t", "y", "combien"]),
    fillers=frozenset(
        ["quand", "quel", "quelle", "quels", "quelles", "comment", "pourquoi", "combien", "lequel", "laquelle", "est-ce", "sont", "etait", "etaient", "avait", "avaient", "selon", "veut", "veulent", "type", "genre", "sorte", "date", "dates", "jour", "puis", "celle", "celui", "ceux", "fait", "faire"]),
    pronoun_openers=frozenset(["il", "elle", "ils", "elles", "on", "ce", "cet", "cette", "ces", "celui", "celle", "son", "sa", "ses", "leur", "leurs"]),
    anaphora=("il", "elle", "ils", "elles", "le", "la", "les", "lui", "leur", "cela", "ça", "celui", "celle",
              "ce", "cet", "cette", "ces", "y", "en", "et", "aussi"),
    question_words=frozenset(
        ["quand", "quel", "quelle", "quels", "quelles", "qui", "que", "quoi", "où", "comment", "pourquoi", "combien", "et", "est", "selon", "en", "le", "la", "les", "un", "une"]),
    not_names=frozenset(
        ["le", "la", "les", "un", "une", "des", "selon", "il", "elle", "ils", "elles", "ce", "cette", "ces", "en", "au", "aux", "du", "de", "dans", "par", "pour", "etat", "sur", "et", "ou", "mais", "lors", "apres", "avant", "depuis", "m", "mme", "plus", "bien", "cependant",
         "pourtant", "ainsi", "alors", "toutefois", "neanmoins", "enfin", "puis", "deja", "aussi", "chaque",
         "certains", "certaines", "plusieurs", "tous", "toutes", "autre", "autres", "celui", "celle", "ceux",
         "celles"]),
    opener_endings=("ant",),
    months=("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
            "octobre", "novembre", "décembre"),
    month_variants={"fevrier": 2, "aout": 8, "decembre": 12},
    weekdays=("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    relative_days=("aujourd[’']hui", "hier"),
    day_suffixes=("er",),
    first_of_month="1er",
    ordinal_suffixes=("e", "er", "ème", "eme"),
    number_words={
        "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7, "huit": 8,
        "neuf": 9, "dix": 10, "onze": 11, "douze": 12, "vingt": 20, "cent": 100,
        "premier": 1, "premiere": 1, "deuxieme": 2, "troisieme": 3, "quatrieme": 4, "cinquieme": 5,
        "sixieme": 6, "septieme": 7, "huitieme": 8, "neuvieme": 9, "dixieme": 10,
    },
    vague_number_words=frozenset(("un", "une", "premier", "premiere")),
    quantity_words=("un", "une", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix",
                    "cent", "mille", "premi[eè]re?", "deuxi[eè]me", "troisi[eè]me", "sixi[eè]me", "heures?",
                    "minutes?", "ans", "millions?", "milliards?"),
    duration_counts=("un", "une", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix", "onze",
                     "douze", "quinze", "vingt", "trente", "quarante", "cinquante", "cent", "mille", "quelques",
                     "plusieurs", "une demi"),
    duration_units=("secondes?", "minutes?", "heures?", "demi-heures?", "jours?", "journées?", "semaines?", "mois",
                    "ans?", "années?", "décennies?", "siècles?", "millénaires?"),
    place_prepositions=("à", "en", "au", "aux", "dans"),
    place_lead_ins=("la ville (suisse )?de",),
    compound_conjunctions=("et",),
    compound_openers=("quand", "qui", "où", "quel", "quelle", "quels", "quelles", "comment", "pourquoi",
                      "combien", "à quel", "à quelle", "à quels", "à quelles", "à qui", "de quel", "de quelle",
                      "que", "qu[’']"),
    question_types={
        "duration": r"combien de temps|pendant combien|depuis combien(?! de fois)|durée|"
                    r"combien (d[’']|de )(secondes|minutes|heures|jours|semaines|mois|ans|années|siècles)",
        "count": r"combien|quel nombre|quel (âge|montant|budget|prix|pourcentage)",
        "time": r"quand|quel(le)? (date|jour|année|heure|mois|siècle|époque)|depuis quand|"
                r"jusqu[’']à quand|à quelle (date|heure|époque)|en quelle année|"
                r"date (du|de la|des|d[’'])|année (du|de la|des|d[’'])",
        # "qui" opening the question (or its second part, or after a preposition), not the
        # relative pronoun of "Qu'est-ce qui…", "le pays qui…"; "Qui est Sergueï Riabkov ?"
        # asks what someone is, not for a name.
        "person": r"(?:^|\bet |, )(?:(?:à|par|avec|de|pour|contre|chez|envers|auprès de) )?qui\b"
                  r"(?! (?:est|était|sont|étaient|fut) (?-i:[A-ZÀ-Þ]))|"
                  r"quel (responsable|dirigeant|président|ministre|porte-parole|homme|roi|auteur|joueur)",
        "place": r"où|dans quel(le)? (ville|pays|région)|quelle ville|quel pays",
    },
    english_forms={
        "putin": ("poutine",), "moscow": ("moscou",), "geneva": ("geneve",), "kyiv": ("kiev",),
        "kiev": ("kyiv",), "brussels": ("bruxelles",), "crimea": ("crimee",), "donbas": ("donbass",),
        "nato": ("otan",), "un": ("onu", "nations unies"), "eu": ("ue", "union europeenne"),
        "us": ("etats-unis", "americain", "washington"), "usa": ("etats-unis",),
        "america": ("etats-unis", "amerique"), "american": ("americain", "etats-unis"),
        "americans": ("americain",), "russia": ("russie",), "russian": ("russe", "russie"),
        "russians": ("russe",), "ukraine": ("ukraine",), "ukrainian": ("ukrainien", "ukraine"),
        "france": ("france",), "french": ("francais", "france"), "germany": ("allemagne",),
        "german": ("allemand", "allemagne"), "europe": ("europe",), "european": ("europeen",),
        "western": ("occidentaux", "occidental"), "west": ("occident",),
        "iran": ("iran", "iranien"), "iranian": ("iranien",), "swiss": ("suisse",), "afghanistan": ("afghanistan",),
        "christmas": ("noel",), "kremlin": ("kremlin",), "white": ("blanche",), "house": ("maison",),
        "state": ("etat",), "states": ("etats",), "united": ("unis",), "nations": ("nations",),
        "security": ("securite",), "council": ("conseil",), "treaty": ("traite",),
        "president": ("president",), "minister": ("ministre",), "ministry": ("ministere",),
        "foreign": ("etrangeres",), "affairs": ("affaires",), "deputy": ("vice",),
        "spokesman": ("porte-parole",), "spokesperson": ("porte-parole",), "press": ("presse",),
        "secretary": ("secretaire", "porte-parole"), "open": ("ouvert",), "skies": ("ciel",),
        "sergei": ("serguei",), "dmitry": ("dmitri",), "alexei": ("alexei",), "ryabkov": ("riabkov",),
        "zelensky": ("zelensky", "zelenski"), "new": ("new", "nouvel", "nouvelle", "nouveau"), "year": ("an", "annee"),
        "heads": ("chefs",), "head": ("chef",), "start": ("start",),
        "tv": ("television", "tele", "chaine"), "television": ("television",),
    },
    boilerplate=(
        r"^(?=.*\bcookies?\b)(?=.*(accept|consent|paramétr|désactiv|traceur|navigat|profil|confidentialit))",
        r"^ce site utilise des cookies",
        r"^les opinions, assertions et points de vue exprimés",
        r"^(accepter|tout accepter|j[’']accepte|fermer)$",
        r"©.{0,120}(source|photo|crédit)",
        r"^(lire aussi|à lire aussi|voir aussi|partager)\b.{0,80}$",
    ),
    quote_marks=("« ", " »"),
    small_talk=("bonjour", "salut", "bonsoir", "merci", "merci beaucoup", "comment ça va ?", "qui es-tu ?",
                "que sais-tu faire ?", "raconte-moi une blague", "au revoir", "d'accord", "oui", "aide-moi"),
    latest=(r"o[uù] en (est|sont|sommes)", r"actuel(le)?s?", r"actuellement", r"aujourd[’']hui",
            r"d[ée]sormais", r"à ce jour", r"en ce moment", r"à présent", r"maintenant", r"encore",
            r"toujours (en|d'actualit[ée]|valable|valide|d[ée]tenu|à|au|le|la|les)", r"(est|sont|reste|restent)"
            r"(-(il|elle|ils|elles|t-il|t-elle))? toujours",
            # "maintient-elle toujours" (still), not "a-t-il toujours dit" (always)
            r"(?!(a|ont|avait|avaient)-)\w{2,}-(t-)?(il|elle|ils|elles|on) toujours", r"plus r[ée]cente?s?", r"dernières nouvelles",
            r"(le|la|les|l[’'])\s*(dernier|derni[èe]re|derniers|derni[èe]res)(?! (ann[ée]e|mois|semaine|fois)s?\b)",
            r"(quel|quelle) est la situation", r"état des lieux"),
    phrases={
        "abstain": "Les articles ne le disent pas : aucun passage du corpus ne répond à cette question.",
        "according": "Selon {source}{date} {marker} : {quote}",
        "also": "Par ailleurs, selon {source}{date} {marker} : {quote}",
        "translated": "{translation} {marker} (traduit de {source}{date} : {quote})",
        "an_article": "un article",
        "as_of": "Au {date} : ",
        "as_of_month": "En {date} : ",
        "earlier": "Auparavant ({date}) : ",
    },
    marks=(*"éèêàùçôîœ", " ?"),
)
