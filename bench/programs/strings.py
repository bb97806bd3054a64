# String building: 500,000 lines, each built from a dozen pieces; the total length, a checksum of
# bytes, how many lines sort before the one before them, and the last line.
total = 0
check = 0
smaller = 0
last = ""
i = 0
while i < 500000:
    line = "item " + str(i) + ":"
    j = 1
    while j <= 5:
        line = line + " " + str(i * j % 1009)
        j += 1
    total += len(line)
    check = (check * 31 + ord(line[len(line) - 2])) % 1000000007
    if line < last:
        smaller += 1
    last = line
    i += 1
print("total", total)
print("check", check)
print("smaller", smaller)
print(last)
