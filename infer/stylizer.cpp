// placeholder until the stylizer lands
