"""The templates and filler lists of `generate.py` (the seeded training commands of the
shipped assistant dataset): numbers and clock times as spoken, day words, per-language fillers
(`EN`, `ZH`), which filler fills which slot (`SLOT_OF`), and the templates per intent (`T`).
The test split must use none of these values (tests/test_action_data.py checks)."""

def same(*items):
    """Fillers whose surface is their value."""
    return [(s, s) for s in items]


# ---- numbers and clock times --------------------------------------------------------------

_EN = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
       "fifteen sixteen seventeen eighteen nineteen").split()
_EN_TENS = {20: "twenty", 30: "thirty", 40: "forty", 50: "fifty", 60: "sixty", 70: "seventy",
            80: "eighty", 90: "ninety"}
_ZH = "零一二三四五六七八九"


def en_number(n: int) -> str:
    if n < 20:
        return _EN[n]
    tens, unit = _EN_TENS[n - n % 10], n % 10
    return tens if not unit else f"{tens} {_EN[unit]}"


def zh_number(n: int, hour: bool = False) -> str:
    """Chinese numerals up to 99 (两 for a lone 2 when counting hours)."""
    if n == 2 and hour:
        return "两"
    if n < 10:
        return _ZH[n]
    tens, unit = divmod(n, 10)
    return ("" if tens == 1 else _ZH[tens]) + "十" + (_ZH[unit] if unit else "")


def _hhmm(h: int, m: int) -> str:
    return f"{h:02d}:{m:02d}"


def _spoken(h: int, m: int, rng) -> str:
    """A clock time in words: "six", "half past six", "quarter to seven", "six oh five"."""
    if m == 0:
        return rng.choice((en_number(h), f"{en_number(h)} o'clock"))
    if m in (15, 30, 45) and rng.random() < 0.5:
        return {15: f"quarter past {en_number(h)}", 30: f"half past {en_number(h)}",
                45: f"quarter to {en_number(h % 12 + 1)}"}[m]
    return f"{en_number(h)} {'oh ' if m < 10 else ''}{en_number(m)}"


def en_time(rng, pm_rule, bare_hours):
    """(surface, HH:MM). A time without am/pm follows `pm_rule(h)`, its hour drawn from
    `bare_hours`: alarms read "at 7" as morning, reminders read "at 4" as afternoon."""
    m = rng.choice((0, 0, 0, 5, 10, 15, 20, 30, 30, 40, 45, 50))
    style = rng.choice(("digits", "ampm", "ampm", "words", "period", "24h"))
    if style == "24h":
        h = rng.randint(0, 23)
        return _hhmm(h, m), _hhmm(h, m)
    h = rng.choice(bare_hours) if style in ("digits", "words") else rng.randint(1, 11)
    pm = pm_rule(h) if style in ("digits", "words") else rng.random() < 0.5
    clock = f"{h}:{m:02d}" if m else str(h)
    if style == "period":
        phrase = ("in the afternoon" if h < 6 else rng.choice(("in the evening", "at night"))
                  if pm else "in the morning")
        surface = f"{_spoken(h, m, rng)} {phrase}"
    elif style == "ampm":
        surface = clock + rng.choice((" pm", "pm", " p.m.") if pm else (" am", "am", " a.m."))
    else:
        surface = _spoken(h, m, rng) if style == "words" else clock
    return surface, _hhmm(h % 12 + (12 if pm else 0), m)


def zh_time(rng, pm_rule, bare_hours):
    """(surface, HH:MM): 早上/上午/凌晨 are morning, 下午/晚上 afternoon and evening; a bare hour
    (drawn from `bare_hours`) follows `pm_rule(h)`."""
    period, lo, hi, pm = rng.choice((("", bare_hours[0], bare_hours[-1], None), ("早上", 5, 9, False),
                                     ("上午", 8, 11, False), ("下午", 1, 6, True),
                                     ("晚上", 6, 11, True), ("凌晨", 1, 5, False)))
    h, m = rng.randint(lo, hi), rng.choice((0, 0, 5, 10, 15, 20, 30, 30, 40, 45, 50))
    pm = pm_rule(h) if pm is None else pm
    if rng.random() < 0.25:
        clock = f"{h}:{m:02d}" if m else rng.choice((f"{h}点", f"{h}:00"))
    else:
        minutes = {0: rng.choice(("", "整")), 30: rng.choice(("半", "三十")),
                   15: rng.choice(("一刻", "十五", "十五分")),
                   5: rng.choice(("零五", "零五分"))}.get(m, zh_number(m))
        clock = f"{zh_number(h, hour=True)}点{minutes}"
    return period + clock, _hhmm(h + (12 if pm else 0), m)


def alarm_rule(h):
    return False  # "wake me at 7": morning


def reminder_rule(h):
    return 1 <= h <= 6  # "remind me at 4": afternoon


ALARM_HOURS, REMINDER_HOURS = range(4, 12), range(1, 12)


def en_duration(rng, adjective=False):
    """(surface, seconds); `adjective` gives the "10 minute" form of "a 10 minute timer"."""
    unit, n = rng.choice((("second", rng.choice((10, 20, 30, 45, 90))),
                          ("minute", rng.randint(1, 59)), ("minute", rng.choice((5, 10, 15, 20))),
                          ("hour", rng.randint(1, 4))))
    seconds = n * {"second": 1, "minute": 60, "hour": 3600}[unit]
    number = str(n) if rng.random() < 0.6 else en_number(n)
    if adjective:
        return f"{number} {unit}", seconds
    if rng.random() < 0.2:
        return rng.choice((("half an hour", 1800), ("an hour and a half", 5400),
                           ("an hour", 3600), ("a minute and a half", 90),
                           ("1 hour 20 minutes", 4800), ("2 hours and 10 minutes", 7800)))
    short = {"second": ("sec", "secs"), "minute": ("min", "mins"), "hour": ("hr", "hrs")}[unit]
    name = unit + ("s" if n != 1 else "")
    name = rng.choice(short) if number.isdigit() and rng.random() < 0.3 else name
    return f"{number} {name}", seconds


def zh_duration(rng):
    kind = rng.choice(("秒", "分钟", "分钟", "小时", "special"))
    if kind == "special":
        return rng.choice((("半小时", 1800), ("半个小时", 1800), ("一刻钟", 900),
                           ("一个半小时", 5400), ("两分半", 150), ("三分三十秒", 210),
                           ("一小时二十分钟", 4800), ("两个钟头", 7200)))
    n = {"秒": rng.choice((15, 20, 30, 45, 90)), "分钟": rng.randint(1, 59),
         "小时": rng.randint(1, 3)}[kind]
    seconds = n * {"秒": 1, "分钟": 60, "小时": 3600}[kind]
    number = str(n) if rng.random() < 0.4 else zh_number(n, hour=kind == "小时")
    unit = rng.choice(("小时", "个小时")) if kind == "小时" else kind
    return number + unit, seconds


def en_delay(rng):
    surface, seconds = rng.choice((lambda: en_duration(rng), lambda: rng.choice(
        (("2 days", 172800), ("three days", 259200), ("a week", 604800)))))()
    return f"in {surface}", seconds


def zh_delay(rng):
    surface, seconds = zh_duration(rng) if rng.random() < 0.8 else ("三天", 259200)
    return rng.choice((f"{surface}后", f"过{surface}")), seconds


# ---- days -----------------------------------------------------------------------------------

_WEEK = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EN_DAYS = [("today", "today"), ("tomorrow", "tomorrow"), ("tomorrow", "tomorrow"),
           ("the day after tomorrow", "day_after_tomorrow"), ("every day", "every_day"),
           ("on weekdays", "weekdays"), ("on the weekend", "weekend")] + [
    (f"on {d.capitalize() if i % 2 else d}", d) for i, d in enumerate(_WEEK)]
EN_WEATHER_DAYS = [("today", "today"), ("tonight", "today"), ("this afternoon", "today"),
                   ("tomorrow", "tomorrow"), ("the day after tomorrow", "day_after_tomorrow"),
                   ("this weekend", "weekend"), ("this week", "this_week"),
                   ("next week", "next_week")] + [(f"on {d.capitalize()}", d) for d in _WEEK]
_ZH_WEEK = "一二三四五六日"
ZH_DAYS = [("今天", "today"), ("明天", "tomorrow"), ("明天", "tomorrow"),
           ("后天", "day_after_tomorrow"), ("每天", "every_day"), ("工作日", "weekdays"),
           ("周末", "weekend")] + [(f"{p}{c}", d) for c, d in zip(_ZH_WEEK, _WEEK)
                                   for p in ("周", "星期")]
ZH_WEATHER_DAYS = [("今天", "today"), ("今晚", "today"), ("明天", "tomorrow"),
                   ("后天", "day_after_tomorrow"), ("这周末", "weekend"), ("这周", "this_week"),
                   ("下周", "next_week")] + [(f"周{c}", d) for c, d in zip(_ZH_WEEK, _WEEK)]

# ---- verbatim fillers (surface, value): possessives and articles stay outside the value -----

EN = {
    "contact": same("Marta", "Elif", "Gustavo", "Ingrid", "Kwabena", "Leilani", "Dmitri",
                    "Anouk", "Rafael", "Sunita", "Tobias", "Amelia Hart", "Jonas", "Bea",
                    "Farid", "Mirela", "Hyun-woo", "Oskar", "Paloma", "Rhys", "Zanele",
                    "Céline", "Matías", "Ngozi", "Uncle Ray", "Mr. Alvarez", "Dr. Brennan",
                    "555 0167", "0161 496 0735")
    + [("my uncle", "uncle"), ("my grandpa", "grandpa"), ("the nanny", "nanny"),
       ("my cousin", "cousin"), ("my manager", "manager"), ("the school office", "school office")],
    "message": same("I'm running ten minutes behind", "the door code is 4312",
                    "can you pick up the kids", "dinner is ready", "don't forget the charger",
                    "meet me at the north entrance", "happy Friday!", "thanks, got it",
                    "see you at the gym", "call me after lunch", "yes, that works for me",
                    "sorry, stuck in traffic", "the meeting room changed to B12",
                    "I left my umbrella at your place", "score was 3-1 (we won)",
                    "bring snacks for the road trip", "are we still on for tonight?"),
    "msg_app": same("WhatsApp", "Telegram", "Signal", "Messenger", "Viber"),
    "call_app": same("WhatsApp", "FaceTime", "Skype", "Signal", "Zoom"),
    "destination": same("Golden Gate Park", "Lincoln Memorial", "Copacabana beach", "Pier 39",
                        "Harbourfront Centre", "Grand Bazaar", "Sagrada Família",
                        "Lakeside Mall", "42 Elm Street", "Westfield shopping centre")
    + [("the nearest bakery", "nearest bakery"), ("the aquarium", "aquarium"),
       ("the closest bank", "closest bank"), ("the bus terminal", "bus terminal"),
       ("the nearest car wash", "nearest car wash"), ("my gym", "gym"),
       ("the science museum", "science museum"), ("the ferry terminal", "ferry terminal")],
    "topic": same("renewable energy", "cryptocurrency", "Formula 1", "space exploration",
                  "Canada", "Mexico", "electric cars", "cybersecurity", "tennis", "Wall Street",
                  "the Champions League", "inflation")
    + [("the stock market", "stock market"), ("the housing market", "housing market"),
       ("the NBA playoffs", "NBA playoffs"), ("the Grammys", "Grammys")],
    "source": same("CNN", "Al Jazeera", "NPR", "Bloomberg", "Sky News")
    + [("the Guardian", "Guardian"), ("the Financial Times", "Financial Times")],
    "song_artist": [("Wonderwall", "Oasis"), ("Hotel California", "Eagles"),
                    ("Dancing Queen", "ABBA"), ("Billie Jean", "Michael Jackson"),
                    ("Purple Rain", "Prince"), ("Take On Me", "a-ha"), ("Levitating", "Dua Lipa"),
                    ("Smooth Operator", "Sade"), ("Feeling Good", "Nina Simone"),
                    ("Get Lucky", "Daft Punk"), ("Don't Know Why", "Norah Jones"),
                    ("Nuvole Bianche", "Ludovico Einaudi"), ("Blinding Lights", "The Weeknd"),
                    ("La Vie en Rose", "Édith Piaf"), ("Halo", "Beyoncé")],
    "query": [("some soul music", "soul music"), ("some indie rock", "indie rock"),
              ("my running playlist", "running playlist"), ("something calm", "calm"),
              ("some flamenco", "flamenco"), ("some opera", "opera"), ("my chill mix", "chill mix"),
              ("some 70s disco", "70s disco"), ("acoustic covers", "acoustic covers"),
              ("some techno", "techno"), ("my focus playlist", "focus playlist"),
              ("some gospel", "gospel"), ("movie soundtracks", "movie soundtracks")],
    "music_app": same("Spotify", "YouTube Music", "Apple Music", "Deezer"),
    "task": same("pick up the kids", "pay the water bill", "call the insurance company",
                 "buy a birthday card", "take the chicken out of the freezer", "book a haircut",
                 "back up my laptop", "order more coffee beans", "return the rental car",
                 "submit the expense report", "check the mailbox", "send the invoice",
                 "pack my gym bag", "refill the prescription", "water the tomatoes"),
    "alarm_label": same("yoga", "school run", "meds", "standup", "airport"),
    "timer_label": same("rice", "brownies", "stretching", "boiled eggs", "homework"),
    "phrase": same("good evening", "where is the pharmacy", "I would like the fish",
                   "how much does it cost", "the check, please", "see you next week",
                   "I don't eat meat", "is this seat taken", "congratulations",
                   "happy holidays", "I'm tired", "two coffees please", "where is the exit"),
    "foreign": same("merci beaucoup", "auf Wiedersehen", "obrigado", "hasta mañana",
                    "dziękuję", "salud", "prost", "hygge", "wabi-sabi"),
    "lang": [("French", "fr"), ("German", "de"), ("Spanish", "es"), ("Italian", "it"),
             ("Japanese", "ja"), ("Korean", "ko"), ("Portuguese", "pt"), ("Russian", "ru"),
             ("Dutch", "nl"), ("Greek", "el"), ("Turkish", "tr"), ("Hindi", "hi"),
             ("Swedish", "sv"), ("Vietnamese", "vi"), ("Chinese", "zh"), ("Mandarin", "zh"),
             ("Norwegian", "no"), ("Danish", "da"), ("Hungarian", "hu"), ("Malay", "ms")],
    "city": same("Lisbon", "Vancouver", "Buenos Aires", "Istanbul", "Melbourne", "Dublin",
                 "Marrakesh", "Hong Kong", "Bangkok", "Toronto", "Edinburgh", "Munich",
                 "Auckland", "Santiago", "Kyiv", "Accra"),
}

ZH = {
    "contact": same("刘洋", "陈晨", "王磊", "李娜", "赵敏", "孙浩", "林涛", "吴倩", "郭靖宇",
                    "钱总", "何经理", "宋阿姨", "陈老师", "林医生", "老刘", "小林", "大伟",
                    "表哥", "大姨", "小姑", "姥姥", "姥爷", "岳父", "班长", "Jack", "139 1234 5678")
    + [("我表哥", "表哥"), ("我姥姥", "姥姥"), ("我师父", "师父")],
    "message": same("我到楼下了", "晚饭做好了", "明天早上见", "钥匙放在门口地垫下",
                    "我在路上了，十分钟到", "会议改到下午三点", "记得带充电器",
                    "辛苦了，早点休息", "周末一起去爬山吧", "快递帮我拿一下", "文件已经发你邮箱",
                    "今晚加班不回来吃饭", "生日快乐，天天开心", "车停在B2（靠近电梯）"),
    "msg_app": same("微信", "QQ", "钉钉"),
    "call_app": same("微信", "QQ", "钉钉"),
    "destination": same("颐和园", "人民医院", "市图书馆", "火车东站", "奥林匹克公园", "环球影城",
                        "外滩", "解放碑", "大雁塔", "太古里", "会展中心", "科技馆", "中山公园",
                        "最近的银行", "附近的菜市场", "最近的地铁口", "建设路66号", "机场T1航站楼"),
    "topic": same("新能源", "楼市", "CBA", "网球", "航空", "数码产品", "食品安全", "医保",
                  "就业", "日本", "俄罗斯", "广东", "环保", "电竞", "中国女排", "亚运会"),
    "source": same("央视新闻", "人民日报", "新华社", "澎湃新闻", "凤凰卫视"),
    "song_artist": [("后来", "刘若英"), ("小幸运", "田馥甄"), ("夜曲", "周杰伦"),
                    ("平凡之路", "朴树"), ("演员", "薛之谦"), ("成都", "赵雷"), ("南山南", "马頔"),
                    ("童话", "光良"), ("月亮代表我的心", "邓丽君"), ("青花瓷", "周杰伦"),
                    ("遇见", "孙燕姿"), ("浮夸", "陈奕迅"), ("光辉岁月", "Beyond")],
    "query": same("古典乐", "纯音乐", "抖音热歌", "广场舞音乐", "欢快的歌", "伤感的歌",
                  "运动歌单", "车载音乐", "钢琴曲", "摇滚乐", "粤语歌", "老歌"),
    "music_app": same("QQ音乐", "网易云音乐", "酷狗音乐"),
    "task": same("交水费", "取干洗的衣服", "给车加油", "预约理发", "买猫粮", "给植物施肥",
                 "备份照片", "寄快递", "续办签证", "换床单", "复习英语", "去邮局",
                 "给奶茶店回电话", "把垃圾带下楼", "充公交卡"),
    "alarm_label": same("吃降压药", "健身", "早班车", "接孩子"),
    "timer_label": same("蒸包子", "煮粥", "面膜", "泡脚"),
    "phrase": same("请问洗手间在哪里", "这个太贵了", "我们明天出发", "祝你一路顺风", "我听不懂",
                   "谢谢你的帮助", "我是学生", "欢迎来中国", "路上小心", "能帮我拍张照吗",
                   "我想退房"),
    "foreign": same("nice weather", "break a leg", "long time no see", "cheers mate",
                    "piece of cake", "bon appétit"),
    "lang": [("英语", "en"), ("英文", "en"), ("日语", "ja"), ("日文", "ja"), ("韩语", "ko"),
             ("法语", "fr"), ("德语", "de"), ("西班牙语", "es"), ("俄语", "ru"),
             ("意大利语", "it"), ("泰语", "th"), ("葡萄牙语", "pt"), ("阿拉伯语", "ar"),
             ("越南语", "vi"), ("粤语", "yue")],
    "city": same("大连", "西宁", "桂林", "洛阳", "珠海", "呼和浩特", "乌鲁木齐", "贵阳", "济南",
                 "合肥", "巴黎", "悉尼", "新加坡", "温哥华"),
}

# Slot each placeholder fills; "song" and "artist" come from one pair, so they match.
SLOT_OF = {"contact": "contact", "message": "text", "msg_app": "app", "call_app": "app",
           "destination": "destination", "topic": "topic", "source": "source",
           "song": "song", "artist": "artist", "query": "query", "music_app": "app",
           "task": "text", "alarm_label": "label", "timer_label": "label", "phrase": "text",
           "foreign": "text", "lang": "target", "from_lang": "source", "city": "location",
           "time": "time", "day": "day", "duration": "duration", "duration_adj": "duration",
           "delay": "delay", "thing": None}

# Out-of-scope fillers: no slot, only variety.
EN.update({
    "country": same("France", "Peru", "Kenya", "Norway", "Egypt", "Vietnam", "Chile"),
    "dish": same("banana bread", "pad thai", "French toast", "mushroom risotto", "dumplings"),
    "device": same("dishwasher", "coffee machine", "porch light", "air purifier", "ceiling fan"),
    "animal": same("octopus", "giraffe", "penguin", "honeybee", "sloth"),
    "book": same("Pride and Prejudice", "The Hobbit", "Hamlet", "Moby Dick", "Dracula"),
    "landmark": same("the Statue of Liberty", "the Burj Khalifa", "Big Ben", "the Shard"),
    "gadget": same("phone case", "pair of earbuds", "desk lamp", "yoga mat"),
    "units": same("3 pounds to kilograms", "10 inches to centimeters", "2 liters to cups",
                  "40 Celsius to Fahrenheit", "6 feet to meters"),
})
ZH.update({
    "country": same("法国", "秘鲁", "肯尼亚", "挪威", "埃及", "越南", "智利"),
    "dish": same("糖醋排骨", "番茄炒蛋", "酸菜鱼", "韭菜盒子", "红豆沙"),
    "device": same("洗碗机", "加湿器", "电饭煲", "卧室的灯", "电视"),
    "animal": same("章鱼", "长颈鹿", "企鹅", "大熊猫", "蜜蜂"),
    "book": same("红楼梦", "三体", "围城", "活着", "骆驼祥子"),
    "landmark": same("泰山", "埃菲尔铁塔", "黄鹤楼", "上海中心大厦"),
    "gadget": same("手机壳", "蓝牙耳机", "台灯", "瑜伽垫"),
    "units": same("三公斤是多少斤", "五英里是多少公里", "一亩是多少平方米", "一加仑是多少升"),
})

# (pattern, slots the template fixes). Placeholders: the keys of EN/ZH, time, day, duration,
# duration_adj, delay, song, artist, from_lang.
T = {
    ("call_contact", "en"): [
        ("call {contact}", {}), ("phone {contact} please", {}), ("give {contact} a call", {}),
        ("ring {contact}", {}), ("can you dial {contact}", {}), ("call {contact} on {call_app}", {}),
        ("start a {call_app} call with {contact}", {}), ("get {contact} on the phone for me", {}),
        ("I'd like to speak to {contact}, call them", {}), ("call {contact} right away", {}),
        ("video call {contact} on {call_app}", {}), ("please ring {contact} back", {})],
    ("call_contact", "zh"): [
        ("给{contact}打电话", {}), ("打电话给{contact}", {}), ("呼叫{contact}", {}),
        ("帮我拨{contact}的电话", {}), ("给{contact}打个{call_app}电话", {}),
        ("用{call_app}给{contact}打视频", {}), ("联系{contact}，打电话", {}),
        ("帮我打给{contact}", {}), ("给{contact}回个电话吧", {}), ("拨打{contact}", {}),
        ("我想和{contact}通话", {})],
    ("navigate", "en"): [
        ("navigate to {destination}", {}), ("take me to {destination}", {}),
        ("directions to {destination}", {}), ("how do I get to {destination}", {}),
        ("get me to {destination} please", {}), ("show me the way to {destination}", {}),
        ("walk me to {destination}", {"mode": "walking"}),
        ("walking route to {destination}", {"mode": "walking"}),
        ("drive me to {destination}", {"mode": "driving"}),
        ("driving directions to {destination}", {"mode": "driving"}),
        ("cycling route to {destination}", {"mode": "cycling"}),
        ("how do I get to {destination} by bus", {"mode": "transit"}),
        ("public transport to {destination}", {"mode": "transit"}),
        ("how far is {destination}", {}), ("start navigation to {destination}", {})],
    ("navigate", "zh"): [
        ("导航到{destination}", {}), ("带我去{destination}", {}), ("去{destination}怎么走", {}),
        ("我要去{destination}", {}), ("帮我导航去{destination}", {}),
        ("开车去{destination}", {"mode": "driving"}), ("步行去{destination}", {"mode": "walking"}),
        ("走路去{destination}要多久", {"mode": "walking"}),
        ("骑车去{destination}", {"mode": "cycling"}),
        ("坐地铁去{destination}", {"mode": "transit"}),
        ("坐公交去{destination}怎么走", {"mode": "transit"}), ("到{destination}的路线", {}),
        ("规划一条去{destination}的路", {})],
    ("news", "en"): [
        ("news about {topic}", {}), ("what's the latest on {topic}", {}),
        ("any news on {topic}?", {}), ("headlines about {topic}", {}),
        ("catch me up on {topic}", {}), ("top stories from {source}", {}),
        ("read me the news from {source}", {}), ("what's {source} saying about {topic}", {}),
        ("give me the headlines", {}), ("news briefing please", {}), ("what's in the news", {})],
    ("news", "zh"): [
        ("{topic}的新闻", {}), ("有没有{topic}的最新消息", {}), ("关于{topic}的新闻", {}),
        ("{topic}最近有什么新闻", {}), ("播报一下{topic}新闻", {}), ("我想看{topic}方面的新闻", {}),
        ("{source}今天报道了什么", {}), ("打开{source}的新闻", {}),
        ("{source}关于{topic}的报道", {}), ("来点新闻", {}), ("今天的头条是什么", {})],
    ("out_of_scope", "en"): [
        ("what's the capital of {country}", {}), ("how do I make {dish}", {}),
        ("give me a recipe for {dish}", {}), ("turn on the {device}", {}),
        ("switch off the {device}", {}), ("tell me a fun fact about the {animal}", {}),
        ("how long does a {animal} live", {}), ("who wrote {book}", {}),
        ("how tall is {landmark}", {}), ("convert {units}", {}),
        ("what's the population of {country}", {}), ("order a new {gadget} online", {})],
    ("out_of_scope", "zh"): [
        ("{country}的首都是哪里", {}), ("{dish}怎么做", {}), ("教我做{dish}", {}),
        ("打开{device}", {}), ("把{device}关掉", {}), ("{animal}能活多少年", {}),
        ("讲一个关于{animal}的冷知识", {}), ("{book}的作者是谁", {}), ("{landmark}有多高", {}),
        ("{units}", {}), ("{country}有多少人口", {}), ("帮我在网上买个{gadget}", {})],
    ("play_music", "en"): [
        ("play {song}", {}), ("play {song} by {artist}", {}), ("put on {artist}", {}),
        ("I want to hear {artist}", {}), ("play something by {artist}", {}), ("play {query}", {}),
        ("put on {query}", {}), ("play {query} on {music_app}", {}),
        ("play {artist} on {music_app}", {}), ("can you play {song}?", {}),
        ("shuffle songs by {artist}", {}), ("resume the music", {})],
    ("play_music", "zh"): [
        ("播放{artist}的《{song}》", {}), ("我想听《{song}》", {}), ("来一首{artist}的歌", {}),
        ("放点{query}", {}), ("播放{query}", {}), ("用{music_app}放{artist}的歌", {}),
        ("在{music_app}上播放《{song}》", {}), ("来首《{song}》吧", {}), ("听听{artist}", {}),
        ("给我放{query}", {}), ("接着放歌", {})],
    ("reminder", "en"): [
        ("remind me to {task}", {}), ("remind me to {task} at {time}", {}),
        ("remind me {day} to {task}", {}), ("remind me to {task} {day} at {time}", {}),
        ("set a reminder to {task} {day}", {}), ("remind me {delay} to {task}", {}),
        ("remind me to {task} {delay}", {}), ("add a reminder: {task} at {time}", {}),
        ("don't let me forget to {task}", {}), ("at {time} remind me to {task}", {})],
    ("reminder", "zh"): [
        ("提醒我{task}", {}), ("{day}提醒我{task}", {}), ("{time}提醒我{task}", {}),
        ("{day}{time}提醒我{task}", {}), ("提醒我{day}{time}{task}", {}),
        ("{delay}提醒我{task}", {}), ("设个提醒：{day}{task}", {}), ("别忘了提醒我{task}", {}),
        ("帮我记一下，{day}要{task}", {})],
    ("send_message", "en"): [
        ("text {contact} {message}", {}), ("send a message to {contact} saying {message}", {}),
        ("tell {contact} that {message}", {}), ("message {contact}: {message}", {}),
        ("send {contact} a text: {message}", {}), ("{msg_app} {contact}: {message}", {}),
        ("send a {msg_app} message to {contact} saying {message}", {}),
        ("text {contact} on {msg_app} that {message}", {}),
        ("shoot {contact} a message saying {message}", {}),
        ("send \"{message}\" to {contact}", {}), ("send a message to {contact}", {})],
    ("send_message", "zh"): [
        ("给{contact}发消息说{message}", {}), ("发短信给{contact}：{message}", {}),
        ("告诉{contact}{message}", {}), ("用{msg_app}告诉{contact}{message}", {}),
        ("{msg_app}给{contact}发条消息：{message}", {}),
        ("帮我给{contact}发个短信，说{message}", {}), ("给{contact}留言：{message}", {}),
        ("给{contact}发条信息", {}), ("发消息给{contact}，内容是{message}", {}),
        ("给{contact}发“{message}”", {})],
    ("set_alarm", "en"): [
        ("set an alarm for {time}", {}), ("wake me up at {time}", {}),
        ("wake me up {day} at {time}", {}), ("alarm at {time} {day}", {}),
        ("set an alarm for {time} {day}", {}), ("I need to get up at {time}", {}),
        ("get me up at {time} {day}", {}), ("alarm {time} please", {}),
        ("set an alarm called {alarm_label} for {time}", {}),
        ("create an alarm named {alarm_label} at {time} {day}", {}),
        ("can you wake me at {time}?", {})],
    ("set_alarm", "zh"): [
        ("{day}{time}叫醒我", {}), ("设一个{time}的闹钟", {}), ("帮我定个{day}{time}的闹钟", {}),
        ("闹钟定在{time}", {}), ("{day}{time}叫我起床", {}), ("定个闹钟，{day}{time}", {}),
        ("设个叫“{alarm_label}”的闹钟，{time}", {}), ("{time}的闹钟帮我开一下", {})],
    ("set_timer", "en"): [
        ("set a timer for {duration}", {}), ("start a {duration_adj} timer", {}),
        ("timer for {duration}", {}), ("countdown {duration}", {}),
        ("count down {duration} for me", {}), ("start a timer, {duration}", {}),
        ("{duration_adj} timer please", {}), ("set a timer named {timer_label} for {duration}", {}),
        ("time {duration} for me", {}), ("let me know in {duration}", {})],
    ("set_timer", "zh"): [
        ("倒计时{duration}", {}), ("设一个{duration}的计时器", {}), ("计时{duration}", {}),
        ("帮我计时{duration}", {}), ("{duration}倒计时开始", {}), ("开个{duration}的定时器", {}),
        ("定时{duration}", {}), ("设置一个叫“{timer_label}”的计时器，{duration}", {}),
        ("来个{duration}倒计时", {})],
    ("translate", "en"): [
        ("how do you say {phrase} in {lang}", {}), ("translate {phrase} into {lang}", {}),
        ("translate \"{phrase}\" to {lang}", {}), ("what's \"{phrase}\" in {lang}", {}),
        ("what does \"{foreign}\" mean", {}), ("{lang} for \"{phrase}\"", {}),
        ("say \"{phrase}\" in {lang}", {}), ("translate from {from_lang} to {lang}: {phrase}", {}),
        ("how would I say \"{phrase}\" in {lang}?", {}), ("what is the {lang} word for {phrase}", {})],
    ("translate", "zh"): [
        ("“{phrase}”用{lang}怎么说", {}), ("把“{phrase}”翻译成{lang}", {}),
        ("{lang}的“{phrase}”怎么说", {}), ("用{lang}怎么说{phrase}", {}),
        ("翻译成{lang}：{phrase}", {}), ("{foreign} 是什么意思", {}),
        ("把 {foreign} 翻译成中文", {"target": "zh"}), ("帮我翻译一下：{phrase}", {})],
    ("weather", "en"): [
        ("what's the weather in {city}", {}), ("weather in {city} {day}", {}),
        ("will it rain {day}", {}), ("is it going to snow in {city} {day}", {}),
        ("how hot will it be {day}", {}), ("what's the forecast for {city}", {}),
        ("do I need an umbrella {day}", {}), ("temperature in {city} right now", {}),
        ("how's the weather looking {day}", {}), ("is it windy in {city}", {}),
        ("forecast {day} please", {})],
    ("weather", "zh"): [
        ("{city}{day}天气怎么样", {}), ("{day}{city}会下雨吗", {}), ("{city}{day}多少度", {}),
        ("{day}天气如何", {}), ("查一下{city}的天气", {}), ("{city}现在冷吗", {}),
        ("{day}要带伞吗", {}), ("{city}{day}有雨吗", {}), ("帮我看看{day}的天气", {}),
        ("{city}天气预报", {})],
}
